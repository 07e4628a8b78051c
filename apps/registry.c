// registry.c — the model registry (assets/models.json), the cache folder and its checks.
#include "registry.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "clip.h"
#include "sha256.h"

static const char * json_str(const cJSON * o, const char * key) {
    const cJSON * v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool valid_name(const char * s, bool file) {
    if (!s || !*s || !strcmp(s, ".") || !strcmp(s, "..") || strlen(s) > 200) return false;
    for (const char * p = s; *p; p++)
        if (!(isalnum((unsigned char)*p) || *p == '-' || *p == '_' || *p == '.' || (file && *p == '+'))) return false;
    return true;
}

static bool valid_sha256(const char * s) {
    if (strlen(s) != 64) return false;
    for (const char * p = s; *p; p++)
        if (!isxdigit((unsigned char)*p) || isupper((unsigned char)*p)) return false;
    return true;
}

void vlm_registry_free(struct vlm_registry * r) {
    if (!r) return;
    for (int i = 0; r->models && i < r->n; i++) free(r->models[i].files);
    free(r->models);
    cJSON_Delete(r->json);
    memset(r, 0, sizeof *r);
}

// One model entry; false with err set.
static bool parse_model(const cJSON * jm, struct vlm_reg_model * m, char * err, size_t es) {
    m->name = json_str(jm, "name");
    if (!valid_name(m->name, false)) {
        snprintf(err, es, "a model has no valid \"name\" (letters, digits, '-', '_', '.')");
        return false;
    }
    m->task = json_str(jm, "task");
    m->architecture = json_str(jm, "architecture");
    m->description = json_str(jm, "description");
    m->licence = json_str(jm, "licence");
    m->homepage = json_str(jm, "homepage");
    const cJSON * jf = cJSON_GetObjectItemCaseSensitive(jm, "files");
    int n = cJSON_GetArraySize(jf);
    if (!cJSON_IsArray(jf) || n < 1) {
        snprintf(err, es, "model '%s' has no \"files\"", m->name);
        return false;
    }
    if (!(m->files = calloc((size_t)n, sizeof *m->files))) {
        snprintf(err, es, "out of memory");
        return false;
    }
    m->n_files = n;
    for (int i = 0; i < n; i++) {
        const cJSON * o = cJSON_GetArrayItem(jf, i);
        struct vlm_reg_file * f = &m->files[i];
        f->role = json_str(o, "role");
        f->name = json_str(o, "name");
        f->url = json_str(o, "url");
        f->source = json_str(o, "source");
        const cJSON * size = cJSON_GetObjectItemCaseSensitive(o, "size");
        const cJSON * sha = cJSON_GetObjectItemCaseSensitive(o, "sha256");
        const cJSON * approx = cJSON_GetObjectItemCaseSensitive(o, "approx_mb");
        if (!f->role || !valid_name(f->name, true)) {
            snprintf(err, es, "model '%s': file %d needs a \"role\" and a plain file \"name\"", m->name, i + 1);
            return false;
        }
        if (!f->url || (strncmp(f->url, "https://", 8) && strncmp(f->url, "http://", 7))) {
            snprintf(err, es, "model '%s': %s: \"url\" must be an http(s) URL", m->name, f->name);
            return false;
        }
        f->size = -1;
        if (cJSON_IsNumber(size) && size->valuedouble >= 1 && size->valuedouble < 0x1p53 &&
            size->valuedouble == (double)(int64_t)size->valuedouble)
            f->size = (int64_t)size->valuedouble;
        else if (size && !cJSON_IsNull(size)) {
            snprintf(err, es, "model '%s': %s: \"size\" must be a whole number of bytes or null", m->name, f->name);
            return false;
        }
        if (cJSON_IsString(sha) && valid_sha256(sha->valuestring)) f->sha256 = sha->valuestring;
        else if (sha && !cJSON_IsNull(sha)) {
            snprintf(err, es, "model '%s': %s: \"sha256\" must be 64 lower-case hex digits or null", m->name, f->name);
            return false;
        }
        f->approx_mb = cJSON_IsNumber(approx) && approx->valuedouble > 0 ? approx->valuedouble : 0;
    }
    return true;
}

bool vlm_registry_load(struct vlm_registry * r, char * err, size_t es) {
    memset(r, 0, sizeof *r);
    const char * env = getenv("VLM_REGISTRY");
    if (env && *env) snprintf(r->path, sizeof r->path, "%s", env);
    else if (!vlm_clip_find_asset("models.json", r->path, sizeof r->path)) {
        snprintf(err, es, "the model registry assets/models.json was not found (set VLM_ASSETS to the assets folder)");
        return false;
    }
    char * text = vlm_read_file(r->path, 16u << 20, NULL);
    if (!text) {
        snprintf(err, es, "%s: cannot read the model registry: %s", r->path, strerror(errno));
        return false;
    }
    r->json = cJSON_Parse(text);
    free(text);
    const cJSON * jm = cJSON_GetObjectItemCaseSensitive(r->json, "models");
    if (!cJSON_IsArray(jm)) {
        snprintf(err, es, "%s: not a model registry (a JSON object with a \"models\" list)", r->path);
        goto fail;
    }
    r->n = cJSON_GetArraySize(jm);
    if (r->n && !(r->models = calloc((size_t)r->n, sizeof *r->models))) {
        snprintf(err, es, "out of memory");
        goto fail;
    }
    for (int i = 0; i < r->n; i++) {
        char why[512];
        if (!parse_model(cJSON_GetArrayItem(jm, i), &r->models[i], why, sizeof why)) {
            snprintf(err, es, "%s: %s", r->path, why);
            goto fail;
        }
        for (int j = 0; j < i; j++)
            if (!strcmp(r->models[j].name, r->models[i].name)) {
                snprintf(err, es, "%s: model '%s' is listed twice", r->path, r->models[i].name);
                goto fail;
            }
    }
    return true;
fail:
    vlm_registry_free(r);
    return false;
}

const struct vlm_reg_model * vlm_registry_find(const struct vlm_registry * r, const char * name) {
    for (int i = 0; i < r->n; i++)
        if (!strcmp(r->models[i].name, name)) return &r->models[i];
    return NULL;
}

const char * vlm_registry_default(const struct vlm_registry * r, const char * cmd) {
    const cJSON * d = cJSON_GetObjectItemCaseSensitive(r->json, "defaults");
    const char * name = json_str(d, cmd);
    return name && vlm_registry_find(r, name) ? name : NULL;
}

// Edit distance (insert, delete, substitute), case-insensitive, on strings up to 63 bytes.
static int edit_distance(const char * a, const char * b) {
    size_t na = strlen(a), nb = strlen(b);
    if (na > 63 || nb > 63) return 99;
    int row[64];
    for (size_t j = 0; j <= nb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= na; i++) {
        int diag = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= nb; j++) {
            int up = row[j];
            int sub = diag + (tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]));
            int best = up + 1 < row[j - 1] + 1 ? up + 1 : row[j - 1] + 1;
            row[j] = sub < best ? sub : best;
            diag = up;
        }
    }
    return row[nb];
}

void vlm_registry_suggest(const struct vlm_registry * r, const char * name, char * out, size_t n) {
    // close: a few edits away, or one name contains the other ("sam" -> sam-vit-b, "smolvlm" -> ...)
    int limit = (int)strlen(name) / 3 + 1, shown = 0;
    size_t used = 0;
    out[0] = 0;
    for (int pass = 0; pass < 2 && shown < 3; pass++)
        for (int i = 0; i < r->n && shown < 3; i++) {
            const char * k = r->models[i].name;
            char prefix[64];   // a name cut short ("smolvm" for smolvlm-256m) counts by the start of k
            snprintf(prefix, sizeof prefix, "%.*s", (int)strlen(name), k);
            int d = edit_distance(name, k), dp = edit_distance(name, prefix);
            if (dp < d && strlen(name) >= 4) d = dp;
            bool close = pass == 0 ? d <= limit : (d > limit && strlen(name) >= 3 && strstr(k, name));
            if (!close) continue;
            int w = snprintf(out + used, n - used, "%s'%s'", shown ? " or " : " (did you mean ", k);
            if (w < 0 || (size_t)w >= n - used) break;
            used += (size_t)w;
            shown++;
        }
    if (shown) snprintf(out + used, n - used, "?)");
}

void vlm_registry_url(const struct vlm_reg_file * f, char * out, size_t n) {
    const char * base = getenv("VLM_REGISTRY_BASE");
    if (base && *base) {
        size_t l = strlen(base);
        snprintf(out, n, "%s%s%s", base, l && base[l - 1] == '/' ? "" : "/", f->name);
    } else {
        snprintf(out, n, "%s", f->url);
    }
}

bool vlm_models_dir(char * out, size_t n) {
    const char * env = getenv("VLM_MODELS");
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return true;
    }
    return cli_cache_dir(out, n);
}

bool vlm_models_file_path(const struct vlm_reg_model * m, const struct vlm_reg_file * f, char * out, size_t n) {
    char dir[PATH_MAX];
    if (!vlm_models_dir(dir, sizeof dir)) return false;
    int w = snprintf(out, n, "%s/%s/%s", dir, m->name, f->name);
    return w > 0 && (size_t)w < n;
}

bool vlm_sha256_add_file(struct vlm_sha256 * s, const char * path) {
    FILE * fp = fopen(path, "rb");
    if (!fp) return false;
    size_t cap = 1u << 20, got;
    unsigned char * buf = malloc(cap);
    if (!buf) {
        fclose(fp);
        errno = ENOMEM;
        return false;
    }
    while ((got = fread(buf, 1, cap, fp)) > 0) vlm_sha256_update(s, buf, got);
    int err = ferror(fp) ? EIO : 0;
    free(buf);
    fclose(fp);
    if (err) errno = err;
    return err == 0;
}

bool vlm_sha256_file(const char * path, char hex[65]) {
    struct vlm_sha256 s;
    vlm_sha256_init(&s);
    if (!vlm_sha256_add_file(&s, path)) return false;
    vlm_sha256_final_hex(&s, hex);
    return true;
}

// The record of the last verification: <dir>/.<file>.verified holding "sha256 size mtime_ns".
static void record_path(const char * path, char * out, size_t n) {
    const char * slash = strrchr(path, '/');
    if (slash) snprintf(out, n, "%.*s/.%s.verified", (int)(slash - path), path, slash + 1);
    else snprintf(out, n, ".%s.verified", path);
}

static long long mtime_ns(const struct stat * st) {
    return (long long)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
}

bool vlm_cache_record(const char * path, const char * sha256_hex) {
    struct stat st;
    char rec[PATH_MAX + 16], line[128], err[PATH_MAX + 64];
    if (stat(path, &st) != 0) return false;
    record_path(path, rec, sizeof rec);
    int w = snprintf(line, sizeof line, "%s %lld %lld\n", sha256_hex, (long long)st.st_size, mtime_ns(&st));
    return cli_write_atomic(rec, line, (size_t)w, err, sizeof err);
}

// The recorded sha256 when the record is of this very file (same size and time), else false.
static bool read_record(const char * path, const struct stat * st, char hex[65], bool * current) {
    char rec[PATH_MAX + 16];
    record_path(path, rec, sizeof rec);
    char * text = vlm_read_file(rec, 256, NULL);
    if (!text) return false;
    long long size = -1, mt = -1;
    bool ok = sscanf(text, "%64s %lld %lld", hex, &size, &mt) == 3 && valid_sha256(hex);
    free(text);
    *current = ok && size == (long long)st->st_size && mt == mtime_ns(st);
    return ok;
}

enum vlm_cache_state vlm_cache_check(const char * path, const struct vlm_reg_file * f, bool may_hash, int64_t * bytes,
                                     char * why, size_t ws) {
    struct stat st;
    *bytes = 0;
    why[0] = 0;
    if (stat(path, &st) != 0) {
        char part[PATH_MAX + 8];
        snprintf(part, sizeof part, "%s.part", path);
        if (stat(part, &st) == 0) {
            *bytes = st.st_size;
            return VLM_CACHE_PARTIAL;
        }
        return VLM_CACHE_MISSING;
    }
    *bytes = st.st_size;
    if (!S_ISREG(st.st_mode)) {
        snprintf(why, ws, "it is not a regular file");
        return VLM_CACHE_CORRUPT;
    }
    if (f->size >= 0 && st.st_size != f->size) {
        snprintf(why, ws, "it has %lld bytes, the registry says %lld", (long long)st.st_size, (long long)f->size);
        return VLM_CACHE_CORRUPT;
    }
    char recorded[65] = "", actual[65];
    bool current = false, have = read_record(path, &st, recorded, &current);
    const char * want = f->sha256 ? f->sha256 : have ? recorded : NULL;
    if (current && want && !strcmp(recorded, want)) return VLM_CACHE_OK;
    if (!may_hash) {
        snprintf(why, ws, "unverified");
        return VLM_CACHE_OK;
    }
    if (isatty(STDERR_FILENO) && st.st_size > (100 << 20))
        fprintf(stderr, "vlm: checking the sha256 of %s (changed since its last check)\n", path);
    if (!vlm_sha256_file(path, actual)) {
        snprintf(why, ws, "cannot read it: %s", strerror(errno));
        return VLM_CACHE_CORRUPT;
    }
    if (want && strcmp(actual, want)) {
        snprintf(why, ws, "its sha256 is %s, expected %s%s", actual, want, f->sha256 ? "" : " (recorded when it was downloaded)");
        return VLM_CACHE_CORRUPT;
    }
    vlm_cache_record(path, actual);   // verified (or first seen): later checks need not hash it again
    return VLM_CACHE_OK;
}

void vlm_format_bytes(double b, char * out, size_t n) {
    if (b >= 1e9) snprintf(out, n, "%.2f GB", b / 1e9);
    else if (b >= 1e6) snprintf(out, n, "%.1f MB", b / 1e6);
    else if (b >= 1e3) snprintf(out, n, "%.0f kB", b / 1e3);
    else snprintf(out, n, "%.0f B", b);
}
