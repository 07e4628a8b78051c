// sam-tinyvit.c — MobileSAM's image encoder (ChaoningZhang/MobileSAM mobile_sam/modeling/tiny_vit_sam.py
// TinyViT): a conv stem, a stage of MBConv blocks, stages of windowed-attention blocks with
// per-head attention biases and a depthwise local conv, patch merging between stages; then
// SAM's neck (sam-encoder.c). Architecture numbers come from tensor shapes (dims, depths,
// heads and windows from attention_biases, MLP and MBConv widths); config.json may give the
// image size (default 1024, as build_sam_vit_t) and must agree with the shapes where it
// gives more. Conv2d_BN pairs are folded into one conv (weight and bias) at load.
//
// Layout: activations are channel-last tokens [1, H, W, C] after the stem, so 1x1 convs are
// linears and depthwise convs take them as they are (vlm_op_conv2d_dw).
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model-config.h"
#include "model.h"
#include "sam.h"

#define F32 VLM_DTYPE_F32
#define BN_EPS 1e-5f   // torch.nn.BatchNorm2d default
#define LN_EPS 1e-5f   // torch.nn.LayerNorm default (Attention.norm, Mlp.norm)

// A folded Conv2d_BN: w [Cout, Cin / groups, k, k] (1x1: [Cout, Cin]), b [Cout].
struct tv_conv {
    struct vlm_tensor w, b;
};

// ref: tiny_vit_sam.py MBConv (stage 0) / TinyViTBlock (later stages)
struct tv_block {
    struct tv_conv    conv1, conv2, conv3;                   // MBConv: 1x1 expand, 3x3 depthwise, 1x1 project
    struct vlm_tensor norm_w, norm_b, qkv_w, qkv_b, proj_w, proj_b;
    struct vlm_tensor bias;                                  // attention_biases[:, attention_bias_idxs]: [1, heads, N, N]
    struct tv_conv    local;                                 // local_conv: 3x3 depthwise
    struct vlm_tensor mlp_norm_w, mlp_norm_b, fc1_w, fc1_b, fc2_w, fc2_b;
};

struct tv_stage {
    int32_t         dim, depth, heads, window, hidden;       // hidden: MBConv or MLP width
    int32_t         res;                                     // input grid side
    int32_t         out_dim, merge_stride;                   // merge_stride 0: no PatchMerging
    struct tv_block blocks[VLM_TINYVIT_MAX_BLOCKS];
    struct tv_conv  merge1, merge2, merge3;                  // PatchMerging conv1 (1x1), conv2 (3x3 dw), conv3 (1x1)
};

struct vlm_tinyvit {
    int32_t             n_stages;
    struct tv_conv      stem0, stem1;                        // PatchEmbed seq.0 and seq.2 (3x3 stride 2)
    struct tv_stage     stages[VLM_TINYVIT_MAX_STAGES];
    struct vlm_buffer * buf;                                 // folded convs and bias tables
};

// ---- shapes -----------------------------------------------------------------------------

bool vlm_tinyvit_detect(const struct vlm_safetensors * st) {
    return vlm_safetensors_find(st, "image_encoder.patch_embed.seq.0.c.weight") != NULL;
}

static const struct vlm_file_tensor * findf(const struct vlm_safetensors * st, char * name, size_t cap, const char * fmt,
                                            int a, int b) {
    snprintf(name, cap, fmt, a, b);
    return vlm_safetensors_find(st, name);
}

// ref: tiny_vit_sam.py Conv2d_BN(ks=3, stride=s, pad=1): out = (n + 2 - 3) / s + 1
static int64_t conv3_out(int64_t n, int64_t s) { return (n - 1) / s + 1; }

static enum vlm_status missing(const char * name) {
    return vlm_error(VLM_STATUS_BAD_MODEL, "MobileSAM model: missing or malformed %s", name);
}

enum vlm_status vlm_tinyvit_dims(const struct vlm_model_source * src, int64_t img_size, struct vlm_tinyvit_dims * d) {
    const struct vlm_safetensors * st = src->file;
    memset(d, 0, sizeof *d);
    char name[160];
    const struct vlm_file_tensor * t = vlm_safetensors_find(st, "image_encoder.patch_embed.seq.2.c.weight");
    if (!t || t->n_dims != 4) return missing("image_encoder.patch_embed.seq.2.c.weight");
    const int64_t n_stages = vlm_sam_count_indexed(st, "image_encoder.layers.");
    if (n_stages < 2 || n_stages > VLM_TINYVIT_MAX_STAGES)
        return vlm_error(VLM_STATUS_BAD_MODEL, "MobileSAM model: image_encoder.layers.* has %lld stages (2 to %d supported)",
                         (long long)n_stages, VLM_TINYVIT_MAX_STAGES);
    d->n_stages = (int32_t)n_stages;
    int64_t dim = t->shape[0], res = conv3_out(conv3_out(img_size, 2), 2), grid = img_size / 16;
    for (int32_t s = 0; s < d->n_stages; s++) {
        d->dim[s] = (int32_t)dim;
        d->res[s] = (int32_t)res;
        char prefix[64];
        snprintf(prefix, sizeof prefix, "image_encoder.layers.%d.blocks.", s);
        const char * first = s == 0 ? "conv1.c.weight" : "attn.norm.weight";
        int64_t depth = 0;
        while (depth < VLM_TINYVIT_MAX_BLOCKS && findf(st, name, sizeof name, s == 0 ? "image_encoder.layers.%d.blocks.%d.conv1.c.weight"
                                                                                     : "image_encoder.layers.%d.blocks.%d.attn.norm.weight",
                                                       s, (int)depth))
            depth++;
        int64_t n = vlm_sam_count_indexed(st, prefix);
        if (depth == 0 || n > depth)
            return vlm_error(VLM_STATUS_BAD_MODEL, "MobileSAM model: missing tensor %s%lld.%s", prefix, (long long)depth, first);
        d->depth[s] = (int32_t)depth;
        if (s == 0) {
            const struct vlm_file_tensor * c1 = findf(st, name, sizeof name, "image_encoder.layers.%d.blocks.%d.conv1.c.weight", 0, 0);
            if (c1->n_dims != 4) return missing(name);
            d->hidden[s] = (int32_t)c1->shape[0];
        } else {
            const struct vlm_file_tensor * ab = findf(st, name, sizeof name, "image_encoder.layers.%d.blocks.%d.attn.attention_biases", s, 0);
            if (!ab || ab->n_dims != 2) return missing(name);
            int64_t ws = (int64_t)llround(sqrt((double)ab->shape[1]));
            if (ws < 1 || ws * ws != ab->shape[1])
                return vlm_error(VLM_STATUS_BAD_MODEL, "MobileSAM model: %s: %lld offsets is not a square window", name,
                                 (long long)ab->shape[1]);
            d->heads[s] = (int32_t)ab->shape[0];
            d->window[s] = (int32_t)ws;
            if (d->heads[s] < 1 || dim % d->heads[s])
                return vlm_error(VLM_STATUS_BAD_MODEL, "MobileSAM model: %s: %d heads do not divide the stage width %lld", name,
                                 d->heads[s], (long long)dim);
            const struct vlm_file_tensor * f1 = findf(st, name, sizeof name, "image_encoder.layers.%d.blocks.%d.mlp.fc1.weight", s, 0);
            if (!f1 || f1->n_dims != 2) return missing(name);
            d->hidden[s] = (int32_t)f1->shape[0];
        }
        if (s + 1 < d->n_stages) {
            const struct vlm_file_tensor * m = findf(st, name, sizeof name, "image_encoder.layers.%d.downsample.conv1.c.weight", s, 0);
            if (!m || m->n_dims != 4) return missing(name);
            dim = m->shape[0];
            // ref: PatchMerging: stride 1 into 320, 448 or 576 channels (the last merge of the
            // released models), else 2; as the stage resolutions of TinyViT.__init__ require,
            // a merge halves the grid until it reaches the embedding grid img_size / 16
            int64_t stride = res > grid ? 2 : 1;
            d->merge_stride[s] = (int32_t)stride;
            res = conv3_out(res, stride);
        }
    }
    d->out_dim = (int32_t)dim;
    if (res != grid)
        return vlm_error(VLM_STATUS_BAD_MODEL, "MobileSAM model: the encoder's %lldx%lld output is not the %lldx%lld grid of "
                         "a %lld image (image_size in config.json must be a multiple of 16)", (long long)res, (long long)res,
                         (long long)grid, (long long)grid, (long long)img_size);
    return src->config ? vlm_tinyvit_config_check(src->config, src->config_len, src->config_path, d) : VLM_STATUS_OK;
}

size_t vlm_tinyvit_arena_floats(const struct vlm_tinyvit_dims * d, int64_t img_size) {
    size_t S = (size_t)img_size, r0 = (size_t)d->res[0], c0 = (size_t)d->dim[0];
    // input, stem conv1 and its GELU (NCHW at S / 2), conv2 and its NHWC copy
    size_t stem = 3 * S * S + 2 * (S / 2 + 1) * (S / 2 + 1) * (c0 / 2) + 2 * r0 * r0 * c0;
    size_t peak = 0;
    for (int32_t s = 0; s < d->n_stages; s++) {
        size_t R = (size_t)d->res[s], ws = s ? (size_t)d->window[s] : 0, Rp = ws ? (R + ws - 1) / ws * ws : 0;
        size_t D = (size_t)d->dim[s], h = (size_t)d->hidden[s], out = (size_t)d->dim[s + 1 < d->n_stages ? s + 1 : s];
        // the stage's tokens and one block's temporaries (mbconv / vit_block: four hidden-wide
        // tensors, three D-wide; the padded grid's window copies), then the merge's
        size_t blk = R * R * (D * 4 + h * 4) + Rp * Rp * D * 10 + R * R * out * 3;
        if (blk > peak) peak = blk;
    }
    return stem + peak;
}

// ---- weights --------------------------------------------------------------------------------

// Host tables made at load (folded convs, bias tables), uploaded into one buffer at the end.
struct pending {
    struct vlm_tensor * dst;
    float *             data;
    int32_t             n_dims;
    int64_t             shape[4];
};
struct loader {
    struct vlm_sam_model * sm;
    struct pending *       p;
    size_t                 n, cap;
};

static float * pend(struct loader * L, struct vlm_tensor * dst, int32_t n_dims, const int64_t * shape) {
    struct vlm_ctx * x = L->sm->ctx;
    int64_t n = 1;
    for (int32_t i = 0; i < n_dims; i++) n *= shape[i];
    if (!vlm_ctx_ok(x)) return NULL;
    if (!vlm_grow_array((void **)&L->p, &L->cap, L->n + 1, sizeof *L->p, 64)) {
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    float * data = malloc((size_t)n * sizeof(float));
    if (!data) {
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        return NULL;
    }
    struct pending * e = &L->p[L->n++];
    e->dst = dst;
    e->data = data;
    e->n_dims = n_dims;
    memcpy(e->shape, shape, (size_t)n_dims * sizeof *shape);
    return data;
}

// A weight's values on the host as F32 (malloc'd), NULL with the error recorded.
static float * host_f32(struct vlm_sam_model * sm, const char * name, int32_t n_dims, const int64_t * shape) {
    struct vlm_ctx * x = sm->ctx;
    struct vlm_tensor t = vlm_sam_weight(sm, name, n_dims, shape);
    if (!vlm_ctx_ok(x)) return NULL;
    size_t mark = vlm_arena_mark(x);
    if (t.dtype != F32) t = vlm_op_copy(x, t, F32);
    float * h = malloc((size_t)vlm_tensor_numel(&t) * sizeof(float));
    if (!h) vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    else vlm_tensor_download(x, t, h);
    vlm_arena_reset(x, mark);
    if (!vlm_ctx_ok(x)) {
        free(h);
        return NULL;
    }
    return h;
}

// ref: tiny_vit_sam.py Conv2d_BN.fuse: w * g / sqrt(var + eps), beta - mean * g / sqrt(var + eps).
// prefix names the Conv2d_BN ("...conv1"); cin: input channels per group; 1x1 convs as [Cout, Cin].
static void conv_bn(struct loader * L, struct tv_conv * c, const char * prefix, int64_t cout, int64_t cin, int64_t k) {
    struct vlm_sam_model * sm = L->sm;
    char name[192];
    int64_t wshape[4] = { cout, cin, k, k }, vshape[1] = { cout };
    float * w = NULL, * g = NULL, * beta = NULL, * mean = NULL, * var = NULL;
    snprintf(name, sizeof name, "%s.c.weight", prefix);
    w = host_f32(sm, name, 4, wshape);
    const char * bn[4] = { "weight", "bias", "running_mean", "running_var" };
    float ** dst[4] = { &g, &beta, &mean, &var };
    for (int32_t i = 0; i < 4 && w; i++) {
        snprintf(name, sizeof name, "%s.bn.%s", prefix, bn[i]);
        if (!(*dst[i] = host_f32(sm, name, 1, vshape))) break;
    }
    int64_t n = cin * k * k;
    float * fw = var ? pend(L, &c->w, k == 1 ? 2 : 4, k == 1 ? (int64_t[]){ cout, cin } : wshape) : NULL;
    float * fb = fw ? pend(L, &c->b, 1, vshape) : NULL;
    if (fb) {
        for (int64_t o = 0; o < cout; o++) {
            float s = g[o] / sqrtf(var[o] + BN_EPS);
            for (int64_t i = 0; i < n; i++) fw[o * n + i] = w[o * n + i] * s;
            fb[o] = beta[o] - mean[o] * s;
        }
    }
    free(w); free(g); free(beta); free(mean); free(var);
}

// ref: tiny_vit_sam.py Attention.__init__ attention_bias_idxs and train(False): the [heads, N, N]
// table attention_biases[:, idxs], offsets numbered in order of first appearance.
static void bias_table(struct loader * L, struct tv_block * b, const char * prefix, int64_t heads, int64_t ws) {
    char name[192];
    snprintf(name, sizeof name, "%s.attn.attention_biases", prefix);
    const int64_t N = ws * ws;
    float * ab = host_f32(L->sm, name, 2, (int64_t[]){ heads, N });
    int32_t * id = ab ? malloc((size_t)(ws * ws) * sizeof(int32_t)) : NULL;   // offset (|dy|, |dx|) -> index
    float * t = id ? pend(L, &b->bias, 4, (int64_t[]){ 1, heads, N, N }) : NULL;
    if (t) {
        int32_t next = 0;
        for (int64_t i = 0; i < ws * ws; i++) id[i] = -1;
        for (int64_t p = 0; p < N; p++)
            for (int64_t q = 0; q < N; q++) {
                int64_t off = llabs(p / ws - q / ws) * ws + llabs(p % ws - q % ws);
                if (id[off] < 0) id[off] = next++;
                for (int64_t h = 0; h < heads; h++) t[(h * N + p) * N + q] = ab[h * N + id[off]];
            }
    }
    if (ab && !id) vlm_ctx_fail(L->sm->ctx, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    free(id);
    free(ab);
}

static void block_get(struct loader * L, struct tv_block * b, const struct tv_stage * s, int32_t si, int32_t bi) {
    struct vlm_sam_model * sm = L->sm;
    char p[128], q[160];
    snprintf(p, sizeof p, "image_encoder.layers.%d.blocks.%d", si, bi);
    const int64_t D = s->dim, h = s->hidden;
    if (si == 0) {   // ref: MBConv.__init__
        snprintf(q, sizeof q, "%s.conv1", p);
        conv_bn(L, &b->conv1, q, h, D, 1);
        snprintf(q, sizeof q, "%s.conv2", p);
        conv_bn(L, &b->conv2, q, h, 1, 3);
        snprintf(q, sizeof q, "%s.conv3", p);
        conv_bn(L, &b->conv3, q, D, h, 1);
        return;
    }
    // ref: TinyViTBlock.__init__, Attention(dim, dim // heads, heads, attn_ratio=1), Mlp
    struct vlm_tensor * w[] = { &b->norm_w, &b->norm_b, &b->qkv_w, &b->qkv_b, &b->proj_w, &b->proj_b,
                                &b->mlp_norm_w, &b->mlp_norm_b, &b->fc1_w, &b->fc1_b, &b->fc2_w, &b->fc2_b };
    const char * names[] = { "attn.norm.weight", "attn.norm.bias", "attn.qkv.weight", "attn.qkv.bias", "attn.proj.weight",
                             "attn.proj.bias", "mlp.norm.weight", "mlp.norm.bias", "mlp.fc1.weight", "mlp.fc1.bias",
                             "mlp.fc2.weight", "mlp.fc2.bias" };
    const int64_t shapes[][2] = { { D, 0 }, { D, 0 }, { 3 * D, D }, { 3 * D, 0 }, { D, D }, { D, 0 },
                                  { D, 0 }, { D, 0 }, { h, D }, { h, 0 }, { D, h }, { D, 0 } };
    for (size_t i = 0; i < sizeof w / sizeof *w; i++) {
        snprintf(q, sizeof q, "%s.%s", p, names[i]);
        *w[i] = vlm_sam_weight(sm, q, shapes[i][1] ? 2 : 1, shapes[i]);
    }
    bias_table(L, b, p, s->heads, s->window);
    snprintf(q, sizeof q, "%s.local_conv", p);
    conv_bn(L, &b->local, q, D, 1, 3);
}

enum vlm_status vlm_tinyvit_init(struct vlm_sam_model * sm, const struct vlm_tinyvit_dims * d) {
    struct vlm_ctx * x = sm->ctx;
    struct vlm_tinyvit * tv = calloc(1, sizeof *tv);
    if (!tv) return vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
    sm->tinyvit = tv;
    struct loader L = { .sm = sm };
    tv->n_stages = d->n_stages;
    // ref: PatchEmbed: Conv2d_BN(3, n // 2, 3, 2, 1), GELU, Conv2d_BN(n // 2, n, 3, 2, 1)
    conv_bn(&L, &tv->stem0, "image_encoder.patch_embed.seq.0", d->dim[0] / 2, 3, 3);
    conv_bn(&L, &tv->stem1, "image_encoder.patch_embed.seq.2", d->dim[0], d->dim[0] / 2, 3);
    for (int32_t si = 0; si < tv->n_stages && vlm_ctx_ok(x); si++) {
        struct tv_stage * s = &tv->stages[si];
        s->dim = d->dim[si];
        s->depth = d->depth[si];
        s->heads = d->heads[si];
        s->window = d->window[si];
        s->hidden = d->hidden[si];
        s->res = d->res[si];
        s->merge_stride = d->merge_stride[si];
        for (int32_t bi = 0; bi < s->depth && vlm_ctx_ok(x); bi++) block_get(&L, &s->blocks[bi], s, si, bi);
        if (s->merge_stride) {   // ref: PatchMerging.__init__
            char p[128];
            s->out_dim = d->dim[si + 1];
            snprintf(p, sizeof p, "image_encoder.layers.%d.downsample.conv1", si);
            conv_bn(&L, &s->merge1, p, s->out_dim, s->dim, 1);
            snprintf(p, sizeof p, "image_encoder.layers.%d.downsample.conv2", si);
            conv_bn(&L, &s->merge2, p, s->out_dim, 1, 3);
            snprintf(p, sizeof p, "image_encoder.layers.%d.downsample.conv3", si);
            conv_bn(&L, &s->merge3, p, s->out_dim, s->out_dim, 1);
        }
    }
    // one buffer for the host-made tensors
    size_t total = 0;
    for (size_t i = 0; i < L.n; i++) {
        size_t n = sizeof(float), a = 0;
        for (int32_t k = 0; k < L.p[i].n_dims; k++) n *= (size_t)L.p[i].shape[k];
        vlm_align_size(n, 256, &a);
        total += a;
    }
    if (vlm_ctx_ok(x) && (tv->buf = vlm_buffer_new(x, total ? total : 256))) {
        size_t off = 0;
        for (size_t i = 0; i < L.n && vlm_ctx_ok(x); i++) {
            *L.p[i].dst = vlm_tensor_in(tv->buf, off, F32, L.p[i].n_dims, L.p[i].shape);
            vlm_tensor_upload(x, *L.p[i].dst, L.p[i].data);
            size_t a = 0;
            vlm_align_size((size_t)vlm_tensor_numel(L.p[i].dst) * sizeof(float), 256, &a);
            off += a;
        }
    }
    for (size_t i = 0; i < L.n; i++) free(L.p[i].data);
    free(L.p);
    return x->status;
}

void vlm_tinyvit_free(struct vlm_sam_model * sm) {
    if (!sm->tinyvit) return;
    if (sm->tinyvit->buf && sm->ctx) vlm_buffer_free(sm->ctx, sm->tinyvit->buf);
    free(sm->tinyvit);
    sm->tinyvit = NULL;
}

// ---- forward ------------------------------------------------------------------------------------

static struct vlm_tensor gelu(struct vlm_ctx * x, struct vlm_tensor t) { return vlm_op_unary(x, VLM_UNARY_GELU_ERF, t); }

// ref: MBConv.forward on tokens h [1, R, R, D]
static struct vlm_tensor mbconv(struct vlm_ctx * x, const struct tv_block * b, struct vlm_tensor h) {
    struct vlm_tensor t = gelu(x, vlm_op_linear(x, h, b->conv1.w, &b->conv1.b));       // [1, R, R, hidden]
    t = gelu(x, vlm_op_conv2d_dw(x, t, b->conv2.w, &b->conv2.b, 1, 1));
    t = vlm_op_linear(x, t, b->conv3.w, &b->conv3.b);                                 // [1, R, R, D]
    return gelu(x, vlm_op_add(x, t, h));
}

// ref: Attention.forward on windows win [nW, N, D] (norm inside): per head, q, k, v are
// consecutive slices of qkv (view(B, N, heads, -1).split([kd, kd, d], dim=3)).
static struct vlm_tensor window_attention(struct vlm_ctx * x, const struct tv_stage * s, const struct tv_block * b,
                                          struct vlm_tensor win) {
    const int64_t B = win.shape[0], N = win.shape[1], D = s->dim, H = s->heads, hd = D / H;
    struct vlm_tensor ln = vlm_op_layer_norm(x, win, &b->norm_w, &b->norm_b, LN_EPS);
    struct vlm_tensor qkv = vlm_op_linear(x, ln, b->qkv_w, &b->qkv_b);                   // [nW, N, 3D]
    if (!vlm_ctx_ok(x)) return qkv;
    struct vlm_tensor q = qkv, k, v;                                                     // [nW, H, N, hd] views
    q.n_dims = 4;
    q.shape[0] = B; q.shape[1] = H; q.shape[2] = N; q.shape[3] = hd;
    q.stride[0] = N * 3 * D; q.stride[1] = 3 * hd; q.stride[2] = 3 * D; q.stride[3] = 1;
    k = q;
    k.offset += (size_t)hd * sizeof(float);
    v = q;
    v.offset += 2 * (size_t)hd * sizeof(float);
    struct vlm_attention_params ap = { .scale = 1.0f / sqrtf((float)hd), .mask = &b->bias };
    struct vlm_tensor o = vlm_op_attention(x, q, k, v, &ap);                             // [nW, H, N, hd]
    struct vlm_tensor om = vlm_op_copy(x, vlm_tensor_permute(o, (int32_t[]){ 0, 2, 1, 3 }), F32);
    om = vlm_tensor_reshape(om, 3, (int64_t[]){ B, N, D });
    return vlm_op_linear(x, om, b->proj_w, &b->proj_b);                                  // [nW, N, D]
}

// ref: TinyViTBlock.forward on tokens h [1, R, R, D]; pad: a zeroed [Rp, Rp, D] grid whose
// border stays zero (window_partition pads before the attention's norm, as upstream's F.pad).
static struct vlm_tensor vit_block(struct vlm_ctx * x, const struct tv_stage * s, const struct tv_block * b,
                                   struct vlm_tensor h, struct vlm_tensor pad) {
    const int64_t R = s->res, D = s->dim, ws = s->window, Rp = pad.shape[0];
    struct vlm_tensor h3 = vlm_tensor_reshape(h, 3, (int64_t[]){ R, R, D });
    vlm_op_copy_into(x, vlm_tensor_slice(vlm_tensor_slice(pad, 0, 0, R), 1, 0, R), h3);
    struct vlm_tensor win = vlm_sam_window_partition(x, pad, ws);                       // [nW, ws*ws, D]
    struct vlm_tensor a = window_attention(x, s, b, win);
    struct vlm_tensor un = vlm_sam_window_unpartition(x, a, ws, Rp, Rp);               // [Rp, Rp, D]
    struct vlm_tensor h1 = vlm_op_add(x, h3, vlm_tensor_slice(vlm_tensor_slice(un, 0, 0, R), 1, 0, R));
    struct vlm_tensor lc = vlm_op_conv2d_dw(x, vlm_tensor_reshape(h1, 4, (int64_t[]){ 1, R, R, D }), b->local.w, &b->local.b, 1, 1);
    // ref: Mlp.forward: norm, fc1, GELU, fc2
    struct vlm_tensor m = vlm_op_layer_norm(x, lc, &b->mlp_norm_w, &b->mlp_norm_b, LN_EPS);
    m = vlm_op_linear(x, gelu(x, vlm_op_linear(x, m, b->fc1_w, &b->fc1_b)), b->fc2_w, &b->fc2_b);
    return vlm_op_add(x, lc, m);                                                         // [1, R, R, D]
}

// ref: PatchMerging.forward on tokens h [1, R, R, D] -> [1, R', R', out_dim]
static struct vlm_tensor merge(struct vlm_ctx * x, const struct tv_stage * s, struct vlm_tensor h) {
    struct vlm_tensor t = gelu(x, vlm_op_linear(x, h, s->merge1.w, &s->merge1.b));
    t = gelu(x, vlm_op_conv2d_dw(x, t, s->merge2.w, &s->merge2.b, s->merge_stride, 1));
    return vlm_op_linear(x, t, s->merge3.w, &s->merge3.b);
}

// ref: TinyViT.forward_features (patch_embed, layers) then the shared neck.
enum vlm_status vlm_tinyvit_encode(struct vlm_ctx * x, struct vlm_sam_model * sm, const float * pixels, struct vlm_tensor out) {
    const struct vlm_tinyvit * tv = sm->tinyvit;
    const size_t mark0 = vlm_arena_mark(x);
    const int64_t S = sm->img_size;
    struct vlm_tensor img = vlm_tensor_from_host(x, F32, 4, (int64_t[]){ 1, 3, S, S }, pixels);
    struct vlm_tensor t = gelu(x, vlm_op_conv2d(x, img, tv->stem0.w, &tv->stem0.b, 2, 1));
    t = vlm_op_conv2d(x, t, tv->stem1.w, &tv->stem1.b, 2, 1);                             // [1, D0, R, R]
    struct vlm_tensor h = vlm_op_copy(x, vlm_tensor_permute(t, (int32_t[]){ 0, 2, 3, 1 }), F32);   // [1, R, R, D0]
    for (int32_t si = 0; si < tv->n_stages && vlm_ctx_ok(x); si++) {
        const struct tv_stage * s = &tv->stages[si];
        struct vlm_tensor pad;
        memset(&pad, 0, sizeof pad);
        if (si > 0) {
            const int64_t Rp = (s->res + s->window - 1) / s->window * s->window;
            float * zeros = calloc((size_t)(Rp * Rp * s->dim), sizeof(float));
            if (!zeros) return vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
            pad = vlm_tensor_from_host(x, F32, 3, (int64_t[]){ Rp, Rp, s->dim }, zeros);
            free(zeros);
        }
        for (int32_t bi = 0; bi < s->depth && vlm_ctx_ok(x); bi++) {
            const size_t mark = vlm_arena_mark(x);
            struct vlm_tensor o = si == 0 ? mbconv(x, &s->blocks[bi], h) : vit_block(x, s, &s->blocks[bi], h, pad);
            vlm_op_copy_into(x, h, o);
            vlm_arena_reset(x, mark);
        }
        if (s->merge_stride) h = merge(x, s, h);
    }
    vlm_sam_neck(x, sm, vlm_tensor_reshape(h, 2, (int64_t[]){ (int64_t)sm->grid * sm->grid, sm->embed_dim }), out);
    vlm_ctx_sync(x);
    vlm_arena_reset(x, mark0);
    return x->status;
}
