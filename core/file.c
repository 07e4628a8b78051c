// file.c — whole files: read into memory with a size limit, and written under a temporary name
// in the same folder and renamed over their path only when complete, so that a failed or
// interrupted write never leaves a partial file under the final name (and an earlier file
// there stays as it was).
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core.h"

enum vlm_status vlm_atomic_open(struct vlm_atomic_file * a, const char * path) {
    memset(a, 0, sizeof *a);
    if (!path) return vlm_error(VLM_STATUS_INVALID_ARG, "no output path");
    if ((size_t)snprintf(a->tmp, sizeof a->tmp, "%s.tmp.XXXXXX", path) >= sizeof a->tmp)
        return vlm_error(VLM_STATUS_INVALID_ARG, "%s: path too long", path);
    int fd = mkstemp(a->tmp);
    if (fd < 0) return vlm_error(VLM_STATUS_IO, "%s: cannot create a temporary file: %s", path, strerror(errno));
    a->f = fchmod(fd, 0644) == 0 ? fdopen(fd, "wb") : NULL;
    if (!a->f) {
        enum vlm_status st = vlm_error(VLM_STATUS_IO, "%s: cannot write: %s", path, strerror(errno));
        close(fd);
        unlink(a->tmp);
        return st;
    }
    a->path = path;
    return VLM_STATUS_OK;
}

enum vlm_status vlm_atomic_commit(struct vlm_atomic_file * a, bool ok) {
    if (!a->f) return vlm_error(VLM_STATUS_INVALID_ARG, "no file open");
    enum vlm_status st = VLM_STATUS_OK;
    if (!ok || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0)
        st = vlm_error(VLM_STATUS_IO, "%s: write failed: %s", a->path, strerror(errno));
    if (fclose(a->f) != 0 && st == VLM_STATUS_OK) st = vlm_error(VLM_STATUS_IO, "%s: write failed: %s", a->path, strerror(errno));
    a->f = NULL;
    if (st == VLM_STATUS_OK && rename(a->tmp, a->path) != 0)
        st = vlm_error(VLM_STATUS_IO, "%s: cannot write: %s", a->path, strerror(errno));
    if (st != VLM_STATUS_OK) {
        unlink(a->tmp);
        return st;
    }
    // make the rename durable (best effort): sync the folder
    snprintf(a->tmp, sizeof a->tmp, "%s", a->path);
    int dfd = open(dirname(a->tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return VLM_STATUS_OK;
}

void vlm_atomic_discard(struct vlm_atomic_file * a) {
    if (!a->f) return;
    fclose(a->f);
    a->f = NULL;
    unlink(a->tmp);
}

char * vlm_read_file(const char * path, size_t max, size_t * n_out) {
    FILE * f = fopen(path, "rb");
    if (!f) return NULL;
    struct stat sb;
    char * buf = NULL;
    size_t n = 0;
    int err = 0;
    if (fstat(fileno(f), &sb) != 0) err = errno;
    else if (S_ISDIR(sb.st_mode)) err = EISDIR;
    else if ((uint64_t)sb.st_size > max) err = EFBIG;
    else if (!(buf = malloc((size_t)sb.st_size + 1))) err = ENOMEM;
    else if ((n = fread(buf, 1, (size_t)sb.st_size, f)) != (size_t)sb.st_size || ferror(f)) err = EIO;
    fclose(f);
    if (err) {
        free(buf);
        errno = err;
        return NULL;
    }
    buf[n] = 0;
    if (n_out) *n_out = n;
    return buf;
}
