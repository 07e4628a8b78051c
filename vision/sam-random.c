// sam-random.c — random-weight SAM checkpoints with the official key names and shapes
// (for `vlm bench` and tests without the released weights). Streams tensor by tensor, so a
// vit_h file (2.5 GB) needs little memory; written atomically (temp file + rename).
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sam.h"

struct sam_variant {
    const char * name;
    int32_t      img_size, patch;
    int32_t      D, depth, heads, n_global, global[4], window, C, mask_in, dec_depth, dec_mlp, iou_hidden, n_mask_tokens;
    int32_t      mlp;      // encoder MLP width; 0: 4 D
    bool         effsam;   // EfficientSAM's module tree (effsam_encoder() and its decoder names)
};

// ref: segment_anything/build_sam.py (vit_h / vit_l / vit_b); "tiny" is the fixture's size;
// "vit_t": MobileSAM (mobile_sam/build_sam.py build_sam_vit_t), its TinyViT-5M encoder from tinyvit();
// "slimsam_50" / "slimsam_77": the HF SlimSAM-50 / -77 checkpoints' shapes (ViT-B pruned to 384 / 168
// wide, MLP 1536 / 696, 12 heads), under the official names; "effsam_t" / "effsam_s": EfficientSAM
// (efficient_sam/build_efficient_sam.py build_efficient_sam_vitt / _vits: 192 wide with 3 heads /
// 384 with 6, 12 global blocks, MLP 4 D, prompt dim 256)
static const struct sam_variant variants[] = {
    { "vit_t", 1024, 16, 320, 0, 0, 0, { 0 }, 0, 256, 16, 2, 2048, 256, 4, 0, false },
    { "vit_b", 1024, 16, 768, 12, 12, 4, { 2, 5, 8, 11 }, 14, 256, 16, 2, 2048, 256, 4, 0, false },
    { "vit_l", 1024, 16, 1024, 24, 16, 4, { 5, 11, 17, 23 }, 14, 256, 16, 2, 2048, 256, 4, 0, false },
    { "vit_h", 1024, 16, 1280, 32, 16, 4, { 7, 15, 23, 31 }, 14, 256, 16, 2, 2048, 256, 4, 0, false },
    { "tiny", 1024, 16, 48, 4, 3, 2, { 1, 3 }, 14, 32, 8, 2, 64, 32, 4, 0, false },
    { "slimsam_50", 1024, 16, 384, 12, 12, 4, { 2, 5, 8, 11 }, 14, 256, 16, 2, 2048, 256, 4, 1536, false },
    { "slimsam_77", 1024, 16, 168, 12, 12, 4, { 2, 5, 8, 11 }, 14, 256, 16, 2, 2048, 256, 4, 696, false },
    { "effsam_t", 1024, 16, 192, 12, 3, 0, { 0 }, 0, 256, 0, 2, 2048, 256, 4, 0, true },
    { "effsam_s", 1024, 16, 384, 12, 6, 0, { 0 }, 0, 256, 0, 2, 2048, 256, 4, 0, true },
};

enum init_kind { INIT_NORMAL = 0, INIT_ONES, INIT_ZEROS, INIT_GAUSS1 };

struct rt {
    char           name[160];
    int32_t        n_dims;
    int64_t        shape[4];
    enum init_kind init;
};

struct rt_list {
    struct rt * v;
    int32_t     n, cap;
    bool        oom;
};

static void add(struct rt_list * l, enum init_kind init, int32_t n_dims, const int64_t * shape, const char * fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void add(struct rt_list * l, enum init_kind init, int32_t n_dims, const int64_t * shape, const char * fmt, ...) {
    if (l->oom) return;
    if (l->n == l->cap) {
        int32_t cap = l->cap ? 2 * l->cap : 256;
        struct rt * t = realloc(l->v, (size_t)cap * sizeof *t);
        if (!t) {
            l->oom = true;
            return;
        }
        l->v = t;
        l->cap = cap;
    }
    struct rt * r = &l->v[l->n++];
    memset(r, 0, sizeof *r);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->name, sizeof r->name, fmt, ap);
    va_end(ap);
    r->n_dims = n_dims;
    memcpy(r->shape, shape, (size_t)n_dims * sizeof(int64_t));
    r->init = init;
}

#define S1(a) ((int64_t[]){ a })
#define S2(a, b) ((int64_t[]){ a, b })
#define S4(a, b, c, d) ((int64_t[]){ a, b, c, d })
#define S3(a, b, c) ((int64_t[]){ a, b, c })

static void linear(struct rt_list * l, const char * p, int64_t out, int64_t in) {
    add(l, INIT_NORMAL, 2, S2(out, in), "%s.weight", p);
    add(l, INIT_NORMAL, 1, S1(out), "%s.bias", p);
}
static void norm(struct rt_list * l, const char * p, int64_t n) {
    add(l, INIT_ONES, 1, S1(n), "%s.weight", p);
    add(l, INIT_ZEROS, 1, S1(n), "%s.bias", p);
}

// Conv2d_BN (BatchNorm at its initial statistics; num_batches_tracked is not needed)
static void conv_bn(struct rt_list * l, const char * p, int64_t cout, int64_t cin, int64_t k) {
    char q[160];
    add(l, INIT_NORMAL, 4, S4(cout, cin, k, k), "%s.c.weight", p);
    snprintf(q, sizeof q, "%s.bn", p);
    norm(l, q, cout);
    add(l, INIT_ZEROS, 1, S1(cout), "%s.bn.running_mean", p);
    add(l, INIT_ONES, 1, S1(cout), "%s.bn.running_var", p);
}

// ref: mobile_sam/modeling/tiny_vit_sam.py TinyViT tree at build_sam_vit_t's TinyViT-5M sizes
static void tinyvit(struct rt_list * l) {
    static const int64_t dims[4] = { 64, 128, 160, 320 }, depths[4] = { 2, 2, 6, 2 }, heads[4] = { 2, 4, 5, 10 },
                         windows[4] = { 7, 7, 14, 7 };
    char p[160];
    conv_bn(l, "image_encoder.patch_embed.seq.0", dims[0] / 2, 3, 3);
    conv_bn(l, "image_encoder.patch_embed.seq.2", dims[0], dims[0] / 2, 3);
    for (int32_t s = 0; s < 4; s++) {
        const int64_t D = dims[s], h = 4 * D;   // mbconv_expand_ratio and mlp_ratio 4
        for (int32_t b = 0; b < depths[s]; b++) {
            char q[192];
            snprintf(p, sizeof p, "image_encoder.layers.%d.blocks.%d", s, b);
            if (s == 0) {
                snprintf(q, sizeof q, "%s.conv1", p);
                conv_bn(l, q, h, D, 1);
                snprintf(q, sizeof q, "%s.conv2", p);
                conv_bn(l, q, h, 1, 3);
                snprintf(q, sizeof q, "%s.conv3", p);
                conv_bn(l, q, D, h, 1);
                continue;
            }
            add(l, INIT_NORMAL, 2, S2(heads[s], windows[s] * windows[s]), "%s.attn.attention_biases", p);
            snprintf(q, sizeof q, "%s.attn.norm", p);
            norm(l, q, D);
            snprintf(q, sizeof q, "%s.attn.qkv", p);
            linear(l, q, 3 * D, D);
            snprintf(q, sizeof q, "%s.attn.proj", p);
            linear(l, q, D, D);
            snprintf(q, sizeof q, "%s.mlp.norm", p);
            norm(l, q, D);
            snprintf(q, sizeof q, "%s.mlp.fc1", p);
            linear(l, q, h, D);
            snprintf(q, sizeof q, "%s.mlp.fc2", p);
            linear(l, q, D, h);
            snprintf(q, sizeof q, "%s.local_conv", p);
            conv_bn(l, q, D, 1, 3);
        }
        if (s == 3) break;
        const char * conv[3] = { "conv1", "conv2", "conv3" };
        for (int32_t k = 0; k < 3; k++) {
            snprintf(p, sizeof p, "image_encoder.layers.%d.downsample.%s", s, conv[k]);
            conv_bn(l, p, dims[s + 1], k == 0 ? D : k == 1 ? 1 : dims[s + 1], k == 1 ? 3 : 1);
        }
    }
    norm(l, "image_encoder.norm_head", dims[3]);
    linear(l, "image_encoder.head", 1000, dims[3]);
}

// ref: efficient_sam/efficient_sam_encoder.py ImageEncoderViT.__init__ (pos_embed of the 224-pixel
// pretraining grid plus a class token; the neck is SAM's, added by enumerate())
static void effsam_encoder(const struct sam_variant * v, struct rt_list * l) {
    const int64_t D = v->D, P = v->patch, g = 224 / v->patch;
    char p[160];
    add(l, INIT_NORMAL, 4, S4(D, 3, P, P), "image_encoder.patch_embed.proj.weight");
    add(l, INIT_NORMAL, 1, S1(D), "image_encoder.patch_embed.proj.bias");
    add(l, INIT_NORMAL, 3, S3(1, g * g + 1, D), "image_encoder.pos_embed");
    for (int32_t i = 0; i < v->depth; i++) {
        const char * parts[6] = { "norm1", "attn.qkv", "attn.proj", "norm2", "mlp.fc1", "mlp.fc2" };
        const int64_t out[6] = { D, 3 * D, D, D, 4 * D, D }, in[6] = { 0, D, D, 0, D, 4 * D };
        for (int32_t k = 0; k < 6; k++) {
            snprintf(p, sizeof p, "image_encoder.blocks.%d.%s", i, parts[k]);
            if (in[k]) linear(l, p, out[k], in[k]);
            else norm(l, p, out[k]);
        }
    }
}

// ref: segment_anything/modeling/*.py module trees (state_dict order); EfficientSAM's
// efficient_sam/efficient_sam_decoder.py, two_way_transformer.py where it names them otherwise
static void enumerate(const struct sam_variant * v, struct rt_list * l) {
    const int64_t D = v->D, P = v->patch, G = v->img_size / v->patch, hd = v->heads ? v->D / v->heads : 0, C = v->C;
    const int64_t mlp = v->mlp ? v->mlp : 4 * D;
    const bool eff = v->effsam;
    char p[160];
    if (!strcmp(v->name, "vit_t")) {
        tinyvit(l);
    } else if (eff) {
        effsam_encoder(v, l);
    } else {
        add(l, INIT_NORMAL, 4, S4(1, G, G, D), "image_encoder.pos_embed");
        add(l, INIT_NORMAL, 4, S4(D, 3, P, P), "image_encoder.patch_embed.proj.weight");
        add(l, INIT_NORMAL, 1, S1(D), "image_encoder.patch_embed.proj.bias");
    }
    for (int32_t i = 0; i < v->depth && !eff; i++) {
        bool global = false;
        for (int32_t g = 0; g < v->n_global; g++) global |= v->global[g] == i;
        int64_t L = global ? 2 * G - 1 : 2 * v->window - 1;
        snprintf(p, sizeof p, "image_encoder.blocks.%d.norm1", i);
        norm(l, p, D);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.attn.qkv", i);
        linear(l, p, 3 * D, D);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.attn.proj", i);
        linear(l, p, D, D);
        add(l, INIT_NORMAL, 2, S2(L, hd), "image_encoder.blocks.%d.attn.rel_pos_h", i);
        add(l, INIT_NORMAL, 2, S2(L, hd), "image_encoder.blocks.%d.attn.rel_pos_w", i);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.norm2", i);
        norm(l, p, D);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.mlp.lin1", i);
        linear(l, p, mlp, D);
        snprintf(p, sizeof p, "image_encoder.blocks.%d.mlp.lin2", i);
        linear(l, p, D, mlp);
    }
    add(l, INIT_NORMAL, 4, S4(C, D, 1, 1), "image_encoder.neck.0.weight");
    norm(l, "image_encoder.neck.1", C);
    add(l, INIT_NORMAL, 4, S4(C, C, 3, 3), "image_encoder.neck.2.weight");
    norm(l, "image_encoder.neck.3", C);

    add(l, INIT_GAUSS1, 2, S2(2, C / 2), "prompt_encoder.pe_layer.positional_encoding_gaussian_matrix");
    if (eff) {   // ref: efficient_sam_decoder.py PromptEncoder.__init__ (no mask input)
        const char * e[4] = { "invalid_points", "point_embeddings", "bbox_top_left_embeddings", "bbox_bottom_right_embeddings" };
        for (int32_t j = 0; j < 4; j++) add(l, INIT_NORMAL, 2, S2(1, C), "prompt_encoder.%s.weight", e[j]);
    }
    for (int32_t j = 0; j < 4 && !eff; j++) add(l, INIT_NORMAL, 2, S2(1, C), "prompt_encoder.point_embeddings.%d.weight", j);
    const int64_t m4 = v->mask_in / 4, m = v->mask_in;
    if (!eff) {
    add(l, INIT_NORMAL, 4, S4(m4, 1, 2, 2), "prompt_encoder.mask_downscaling.0.weight");
    add(l, INIT_NORMAL, 1, S1(m4), "prompt_encoder.mask_downscaling.0.bias");
    norm(l, "prompt_encoder.mask_downscaling.1", m4);
    add(l, INIT_NORMAL, 4, S4(m, m4, 2, 2), "prompt_encoder.mask_downscaling.3.weight");
    add(l, INIT_NORMAL, 1, S1(m), "prompt_encoder.mask_downscaling.3.bias");
    norm(l, "prompt_encoder.mask_downscaling.4", m);
    add(l, INIT_NORMAL, 4, S4(C, m, 1, 1), "prompt_encoder.mask_downscaling.6.weight");
    add(l, INIT_NORMAL, 1, S1(C), "prompt_encoder.mask_downscaling.6.bias");
    add(l, INIT_NORMAL, 2, S2(1, C), "prompt_encoder.no_mask_embed.weight");
    add(l, INIT_NORMAL, 2, S2(1, C), "prompt_encoder.not_a_point_embed.weight");
    }

    static const char * const attn_names[3] = { "self_attn", "cross_attn_token_to_image", "cross_attn_image_to_token" };
    for (int32_t li = 0; li < v->dec_depth; li++) {
        for (int32_t a = 0; a < 3; a++) {
            int64_t ci = a == 0 ? C : C / 2;
            const char * proj[3] = { "q_proj", "k_proj", "v_proj" };
            for (int32_t k = 0; k < 3; k++) {
                snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.%s.%s", li, attn_names[a], proj[k]);
                linear(l, p, ci, C);
            }
            snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.%s.out_proj", li, attn_names[a]);
            linear(l, p, C, ci);
            if (a == 0) {
                snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm1", li);
                norm(l, p, C);
            } else if (a == 1) {
                snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm2", li);
                norm(l, p, C);
                snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.mlp.%s", li, eff ? "layers.0.0" : "lin1");
                linear(l, p, v->dec_mlp, C);
                snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.mlp.%s", li, eff ? "fc" : "lin2");
                linear(l, p, C, v->dec_mlp);
                snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm3", li);
                norm(l, p, C);
                snprintf(p, sizeof p, "mask_decoder.transformer.layers.%d.norm4", li);
                norm(l, p, C);
            }
        }
    }
    const char * proj[4] = { "q_proj", "k_proj", "v_proj", "out_proj" };
    for (int32_t k = 0; k < 4; k++) {
        snprintf(p, sizeof p, "mask_decoder.transformer.final_attn_token_to_image.%s", proj[k]);
        if (k < 3) linear(l, p, C / 2, C);
        else linear(l, p, C, C / 2);
    }
    norm(l, "mask_decoder.transformer.norm_final_attn", C);
    add(l, INIT_NORMAL, 2, S2(1, C), "mask_decoder.iou_token.weight");
    add(l, INIT_NORMAL, 2, S2(v->n_mask_tokens, C), "mask_decoder.mask_tokens.weight");
    // (EfficientSAM: final_output_upscaling_layers.{0.0, 0.1 GroupNorm, 1.0}; MLPBlocks layers.N.0 then fc)
    const char * up[3] = { "output_upscaling.0", "output_upscaling.1", "output_upscaling.3" };
    if (eff) up[0] = "final_output_upscaling_layers.0.0", up[1] = "final_output_upscaling_layers.0.1",
             up[2] = "final_output_upscaling_layers.1.0";
    add(l, INIT_NORMAL, 4, S4(C, C / 4, 2, 2), "mask_decoder.%s.weight", up[0]);
    add(l, INIT_NORMAL, 1, S1(C / 4), "mask_decoder.%s.bias", up[0]);
    snprintf(p, sizeof p, "mask_decoder.%s", up[1]);
    norm(l, p, C / 4);
    add(l, INIT_NORMAL, 4, S4(C / 4, C / 8, 2, 2), "mask_decoder.%s.weight", up[2]);
    add(l, INIT_NORMAL, 1, S1(C / 8), "mask_decoder.%s.bias", up[2]);
    for (int32_t t = 0; t < v->n_mask_tokens; t++)
        for (int32_t k = 0; k < 3; k++) {
            if (eff && k == 2) snprintf(p, sizeof p, "mask_decoder.output_hypernetworks_mlps.%d.fc", t);
            else snprintf(p, sizeof p, "mask_decoder.output_hypernetworks_mlps.%d.layers.%d%s", t, k, eff ? ".0" : "");
            linear(l, p, k == 2 ? C / 8 : C, C);
        }
    for (int32_t k = 0; k < 3; k++) {
        if (eff && k == 2) snprintf(p, sizeof p, "mask_decoder.iou_prediction_head.fc");
        else snprintf(p, sizeof p, "mask_decoder.iou_prediction_head.layers.%d%s", k, eff ? ".0" : "");
        linear(l, p, k == 2 ? v->n_mask_tokens : v->iou_hidden, k == 0 ? C : v->iou_hidden);
    }
}

enum vlm_status vlm_sam_write_random_checkpoint(const char * path, const char * variant, uint64_t seed) {
    if (!path || !variant) return vlm_error(VLM_STATUS_INVALID_ARG, "vlm_sam_write_random_checkpoint: NULL argument");
    const struct sam_variant * v = NULL;
    for (size_t i = 0; i < sizeof variants / sizeof *variants; i++)
        if (!strcmp(variants[i].name, variant)) v = &variants[i];
    if (!v) return vlm_error(VLM_STATUS_INVALID_ARG, "unknown SAM variant '%s' (use vit_b, vit_l, vit_h, vit_t, slimsam_50, slimsam_77, effsam_t, effsam_s or tiny)", variant);
    struct rt_list l = { 0 };
    enumerate(v, &l);
    if (l.oom) {
        free(l.v);
        return vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    }
    // header JSON
    size_t cap = (size_t)l.n * 256 + 256, len = 0, off = 0;
    char * hdr = malloc(cap);
    float * buf = NULL;
    enum vlm_status st = VLM_STATUS_OK;
    if (!hdr) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "{\"__metadata__\":{\"format\":\"pt\",\"source\":\"vlm random %s seed %llu\"}",
                            v->name, (unsigned long long)seed);
    size_t max_n = 0;
    for (int32_t i = 0; i < l.n; i++) {
        size_t n = 1;
        for (int32_t d = 0; d < l.v[i].n_dims; d++) n *= (size_t)l.v[i].shape[d];
        if (n > max_n) max_n = n;
        len += (size_t)snprintf(hdr + len, cap - len, ",\"%s\":{\"dtype\":\"F32\",\"shape\":[", l.v[i].name);
        for (int32_t d = 0; d < l.v[i].n_dims; d++)
            len += (size_t)snprintf(hdr + len, cap - len, "%s%lld", d ? "," : "", (long long)l.v[i].shape[d]);
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%zu,%zu]}", off, off + n * 4);
        off += n * 4;
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    while (len % 8) hdr[len++] = ' ';
    buf = malloc(max_n * sizeof(float));
    if (!buf) {
        st = vlm_error(VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    struct vlm_atomic_file af;
    if ((st = vlm_atomic_open(&af, path)) != VLM_STATUS_OK) goto done;
    FILE * f = af.f;
    uint64_t hl = len;
    bool ok = fwrite(&hl, 8, 1, f) == 1 && fwrite(hdr, 1, len, f) == len;
    struct vlm_rng rng = { seed ^ 0x5A4D5EEDULL };
    for (int32_t i = 0; i < l.n && ok; i++) {
        size_t n = 1;
        for (int32_t d = 0; d < l.v[i].n_dims; d++) n *= (size_t)l.v[i].shape[d];
        for (size_t k = 0; k < n; k++) {
            switch (l.v[i].init) {
            case INIT_ONES: buf[k] = 1.0f; break;
            case INIT_ZEROS: buf[k] = 0.0f; break;
            case INIT_GAUSS1: buf[k] = (float)vlm_rng_normal(&rng); break;
            default: buf[k] = 0.02f * (float)vlm_rng_normal(&rng); break;
            }
        }
        ok = fwrite(buf, sizeof(float), n, f) == n;
    }
    st = vlm_atomic_commit(&af, ok);
done:
    free(hdr);
    free(buf);
    free(l.v);
    return st;
}
