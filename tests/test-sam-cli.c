// test-sam-cli.c — `vlm segment` end to end ($VLM_CLI, set by ctest): a point prompt with
// -o / --json / --save-tensors checked against the reference fixtures, the embedding
// round trip, and bad inputs (each must exit non-zero, say why on stderr and leave no file).
#include <dirent.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "fixtures.h"
#include "vlm.h"

static const char * tmpdir;   // the scratch folder
static const char * cli;

// Runs the CLI with args (already quoted), stdout / stderr into tmpdir/{out,err}.txt.
static int run_cli(const char * args) {
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "'%s' segment %s > '%s/stdout.txt' 2> '%s/stderr.txt'", cli, args, tmpdir, tmpdir);
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : 255;
}

static size_t file_size(const char * path) {
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

static bool exists(const char * path) {
    struct stat st;
    return stat(path, &st) == 0;
}


// Files in tmpdir other than the captured stdout / stderr and the inputs we made.
static int stray_files(void) {
    DIR * d = opendir(tmpdir);
    int n = 0;
    struct dirent * e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "stdout.txt") || !strcmp(e->d_name, "stderr.txt") ||
            !strncmp(e->d_name, "input-", 6))
            continue;
        fprintf(stderr, "  stray file: %s\n", e->d_name);
        n++;
    }
    if (d) closedir(d);
    return n;
}

static void clean(void) {
    DIR * d = opendir(tmpdir);
    struct dirent * e;
    char p[600];
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        remove(p);
    }
    if (d) closedir(d);
}

int main(void) {
    cli = getenv("VLM_CLI");
    if (!cli || !*cli || access(cli, X_OK) != 0) SKIP("VLM_CLI not set to the built vlm executable");
    const char * fx = test_fixtures_dir();
    char model[1024], clip[1024], image[1024], sam_dir[1024];
    snprintf(model, sizeof model, "%s/sam-tiny/model.safetensors", fx);
    snprintf(clip, sizeof clip, "%s/clip-tiny/model.safetensors", fx);
    snprintf(image, sizeof image, "%s/images/dog.jpg", fx);
    snprintf(sam_dir, sizeof sam_dir, "%s/sam-tiny", fx);
    if (!exists(model) || !exists(image)) SKIP("sam-tiny fixtures missing");
    struct vlm_safetensors * exp = test_fixture_tensors(sam_dir, "cases.safetensors", TEST_NEED_SKIP_ABSENT);
    tmpdir = test_tmp_dir("sam-cli");
    const char * backend = getenv("VLM_BACKEND") ? getenv("VLM_BACKEND") : "cpu";

    char args[8192], png[600], json[600], st_path[600], emb[600];
    snprintf(png, sizeof png, "%s/mask.png", tmpdir);
    snprintf(json, sizeof json, "%s/out.json", tmpdir);
    snprintf(st_path, sizeof st_path, "%s/out.safetensors", tmpdir);
    snprintf(emb, sizeof emb, "%s/emb.safetensors", tmpdir);

    // ---- a point prompt (the fixture case dog.point) ----
    snprintf(args, sizeof args,
             "--backend %s -m '%s' '%s' --point 320,293.70000000000005 -o '%s' --json '%s' --save-tensors '%s' "
             "--save-embedding '%s'",
             backend, model, image, png, json, st_path, emb);
    int rc = run_cli(args);
    char so[700];
    snprintf(so, sizeof so, "%s/stdout.txt", tmpdir);
    char * out_text = test_read_text(so);
    CHECK(rc == 0, "point prompt: exit %d", rc);
    CHECK(out_text && strstr(out_text, "3 masks"), "summary names 3 masks: %s", out_text ? out_text : "(none)");
    free(out_text);
    struct vlm_image m = { 0 };
    CHECK(vlm_image_load(png, &m) == VLM_STATUS_OK && m.width == 800 && m.height == 534, "mask png 800x534: %s", vlm_last_error());
    size_t bad = 0, on = 0;
    for (size_t i = 0; m.data && i < (size_t)m.width * m.height * 3; i++) {
        bad += m.data[i] != 0 && m.data[i] != 255;
        on += m.data[i] == 255;
    }
    CHECK(m.data && bad == 0, "mask png holds only 0 / 255 (%zu others)", bad);
    struct vlm_safetensors * got = NULL;
    CHECK(vlm_safetensors_open(st_path, &got) == VLM_STATUS_OK, "open --save-tensors output: %s", vlm_last_error());
    if (got && exp) {
        const struct vlm_file_tensor *r = vlm_safetensors_find(got, "resized"), *re = vlm_safetensors_find(exp, "dog.resized");
        CHECK(r && re && r->nbytes == re->nbytes && !memcmp(r->data, re->data, r->nbytes), "resized matches the reference");
        const struct vlm_file_tensor *e = vlm_safetensors_find(got, "image_embeddings"),
                                     *ee = vlm_safetensors_find(exp, "dog.image_embeddings");
        CHECK(e && ee && e->nbytes == ee->nbytes && test_max_abs(e->data, ee->data, e->nbytes / 4) <= 1e-3,
              "image_embeddings match");
        const struct vlm_file_tensor *l = vlm_safetensors_find(got, "low_res_logits"),
                                     *le = vlm_safetensors_find(exp, "dog.point.low_res_logits");
        CHECK(l && le && l->nbytes == le->nbytes && test_max_abs(l->data, le->data, l->nbytes / 4) <= 5e-3, "low_res_logits match");
        const struct vlm_file_tensor *io = vlm_safetensors_find(got, "iou_predictions"),
                                     *ie = vlm_safetensors_find(exp, "dog.point.iou_predictions");
        CHECK(io && ie && io->nbytes == ie->nbytes && test_max_abs(io->data, ie->data, 3) <= 1e-3, "iou_predictions match");
        const struct vlm_file_tensor *mk = vlm_safetensors_find(got, "masks"), *me = vlm_safetensors_find(exp, "dog.point.masks");
        CHECK(mk && me && mk->dtype == VLM_DTYPE_U8 && mk->nbytes == me->nbytes, "masks U8 [3, 534, 800]");
        if (mk && me && mk->nbytes == me->nbytes) {
            size_t nd = 0;
            for (size_t i = 0; i < mk->nbytes; i++) nd += (((const uint8_t *)mk->data)[i] != 0) != (((const uint8_t *)me->data)[i] != 0);
            CHECK(nd <= mk->nbytes / 1000, "masks differ on %zu pixels", nd);
            // -o is the mask with the highest IoU
            const float * iou = io->data;
            int best = 0;
            for (int i = 1; i < 3; i++)
                if (iou[i] > iou[best]) best = i;
            size_t cnt = 0;
            for (size_t i = 0; i < (size_t)800 * 534; i++) cnt += ((const uint8_t *)mk->data)[(size_t)best * 800 * 534 + i] != 0;
            CHECK(cnt * 3 == on, "-o holds the best mask (%zu vs %zu pixels)", cnt, on / 3);
        }
    }
    // JSON: 3 masks, scores = iou, RLE counts cover the image
    char * jt = test_read_text(json);
    cJSON * j = jt ? cJSON_Parse(jt) : NULL;
    free(jt);
    CHECK(j != NULL, "json parses");
    const cJSON * arr = cJSON_GetObjectItem(j, "masks");
    CHECK(cJSON_GetArraySize(arr) == 3, "json has 3 masks");
    for (int i = 0; i < cJSON_GetArraySize(arr); i++) {
        const cJSON * o = cJSON_GetArrayItem(arr, i);
        const cJSON * counts = cJSON_GetObjectItem(cJSON_GetObjectItem(o, "segmentation"), "counts");
        double sum = 0, ones = 0;
        for (int k = 0; k < cJSON_GetArraySize(counts); k++) {
            double c = cJSON_GetArrayItem(counts, k)->valuedouble;
            sum += c;
            if (k & 1) ones += c;
        }
        CHECK(sum == 800.0 * 534, "mask %d: RLE counts sum to W*H (%g)", i, sum);
        CHECK(ones == cJSON_GetObjectItem(o, "area")->valuedouble, "mask %d: area = RLE ones", i);
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(o, "bbox")) == 4, "mask %d: bbox XYWH", i);
        if (got) {
            const struct vlm_file_tensor * io = vlm_safetensors_find(got, "iou_predictions");
            CHECK(io && fabs(cJSON_GetObjectItem(o, "score")->valuedouble - ((const float *)io->data)[i]) < 1e-5, "mask %d: score", i);
        }
    }
    cJSON_Delete(j);
    vlm_image_free(&m);

    // ---- the saved embedding gives the same logits without the encoder ----
    char st2[600];
    snprintf(st2, sizeof st2, "%s/out2.safetensors", tmpdir);
    snprintf(args, sizeof args, "--backend %s -m '%s' '%s' --point 320,293.70000000000005 --embedding '%s' --save-tensors '%s'",
             backend, model, image, emb, st2);
    rc = run_cli(args);
    CHECK(rc == 0, "--embedding run: exit %d", rc);
    struct vlm_safetensors * got2 = NULL;
    if (rc == 0 && vlm_safetensors_open(st2, &got2) == VLM_STATUS_OK && got) {
        const struct vlm_file_tensor *a = vlm_safetensors_find(got, "low_res_logits"), *b = vlm_safetensors_find(got2, "low_res_logits");
        CHECK(a && b && a->nbytes == b->nbytes && test_max_abs(a->data, b->data, a->nbytes / 4) == 0.0,
              "same logits from the saved embedding");
        const struct vlm_file_tensor *ra = vlm_safetensors_find(got, "resized"), *rb = vlm_safetensors_find(got2, "resized");
        CHECK(ra && rb && ra->nbytes == rb->nbytes && !memcmp(ra->data, rb->data, ra->nbytes), "resized recomputed");
    }
    vlm_safetensors_close(got2);
    vlm_safetensors_close(got);
    vlm_safetensors_close(exp);
    clean();

    // ---- bad inputs: non-zero exit, a message, no output left ----
    char wrong_mask[600];
    snprintf(wrong_mask, sizeof wrong_mask, "%s/input-mask.safetensors", tmpdir);
    static float small[128 * 128];
    struct vlm_file_tensor wt = { .name = "mask_input", .dtype = VLM_DTYPE_F32, .n_dims = 3, .shape = { 1, 128, 128 },
                                  .data = small, .nbytes = sizeof small, .gguf_type = -1 };
    CHECK(vlm_safetensors_write(wrong_mask, &wt, 1) == VLM_STATUS_OK, "write the wrong-shape mask input");
    struct {
        const char * what;
        char         args[8192];
    } bads[8];
    int nb = 0;
    const char * outs = "-o '%s/bad.png' --json '%s/bad.json' --save-tensors '%s/bad.safetensors'";
    char o[1200];
    snprintf(o, sizeof o, outs, tmpdir, tmpdir, tmpdir);
    bads[nb].what = "label 2";
    snprintf(bads[nb++].args, sizeof bads[0].args, "--backend %s -m '%s' '%s' --point 100,100,2 %s", backend, model, image, o);
    bads[nb].what = "box x0 > x1";
    snprintf(bads[nb++].args, sizeof bads[0].args, "--backend %s -m '%s' '%s' --box 500,100,100,400 %s", backend, model, image, o);
    bads[nb].what = "box outside the image";
    snprintf(bads[nb++].args, sizeof bads[0].args, "--backend %s -m '%s' '%s' --box 10,10,5000,400 %s", backend, model, image, o);
    bads[nb].what = "no prompt";
    snprintf(bads[nb++].args, sizeof bads[0].args, "--backend %s -m '%s' '%s' %s", backend, model, image, o);
    bads[nb].what = "wrong-shape --mask-input";
    snprintf(bads[nb++].args, sizeof bads[0].args, "--backend %s -m '%s' '%s' --point 100,100 --mask-input '%s' %s", backend,
             model, image, wrong_mask, o);
    bads[nb].what = "non-SAM model";
    snprintf(bads[nb++].args, sizeof bads[0].args, "--backend %s -m '%s' '%s' --point 100,100 %s", backend, clip, image, o);
    bads[nb].what = "missing image";
    snprintf(bads[nb++].args, sizeof bads[0].args, "--backend %s -m '%s' '%s/none.jpg' --point 100,100 %s", backend, model,
             tmpdir, o);
    bads[nb].what = "point outside the image";
    snprintf(bads[nb++].args, sizeof bads[0].args, "--backend %s -m '%s' '%s' --point 900,100 %s", backend, model, image, o);
    char err_path[600];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", tmpdir);
    for (int i = 0; i < nb; i++) {
        rc = run_cli(bads[i].args);
        char * err = test_read_text(err_path);
        CHECK(rc != 0, "%s: exit %d", bads[i].what, rc);
        CHECK(file_size(err_path) > 0, "%s: a message on stderr", bads[i].what);
        CHECK(stray_files() == 0, "%s: no output left behind", bads[i].what);
        printf("%-26s exit %d: %s", bads[i].what, rc, err ? err : "\n");
        free(err);
    }
    TEST_END();
}
