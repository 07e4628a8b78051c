// sam-encoder.c — SAM image encoder (ViT with windowed / global attention and decomposed
// relative positions, then the neck), as ops.
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sam.h"

#define F32 VLM_DTYPE_F32

static struct vlm_tensor reshape(struct vlm_tensor t, int32_t n, const int64_t * shape) {
    return vlm_tensor_reshape(t, n, shape);
}
static struct vlm_tensor permute(struct vlm_tensor t, int32_t a, int32_t b, int32_t c, int32_t d) {
    int32_t p[4] = { a, b, c, d };
    return vlm_tensor_permute(t, p);
}

// VLM_SAM_DEBUG=1 prints a checksum of each encoder stage (to compare backends).
// VLM_SAM_DEBUG=2 prints only the final embedding's.
static void dbg(struct vlm_ctx * x, const char * what, struct vlm_tensor t) {
    static int on = -1;
    if (on < 0) on = getenv("VLM_SAM_DEBUG") ? atoi(getenv("VLM_SAM_DEBUG")) : 0;
    if (!on || !vlm_ctx_ok(x) || (on == 2 && strcmp(what, "embedding"))) return;
    size_t n = (size_t)vlm_tensor_numel(&t);
    float * h = malloc(n * sizeof(float));
    if (!h) return;
    vlm_tensor_download(x, t, h);
    double s = 0, a = 0;
    for (size_t i = 0; i < n; i++) {
        s += h[i];
        a += fabs(h[i]);
    }
    fprintf(stderr, "sam-debug %-14s n %9zu sum %14.6f abs %14.6f first %g %g\n", what, n, s, a, h[0], n > 1 ? h[n - 1] : 0.0f);
    free(h);
}

size_t vlm_sam_encoder_pbuf_bytes(const struct vlm_sam_model * sm) {
    size_t total = 0;
    for (int32_t i = 0; i < sm->depth; i++) {
        size_t n = (size_t)sm->blocks[i].size * (size_t)sm->blocks[i].size * (size_t)sm->head_dim * sizeof(float), a = 0;
        vlm_align_size(n, 256, &a);
        total += 2 * a;
    }
    return total;
}

// ref: segment_anything/modeling/image_encoder.py get_rel_pos
// rel_pos [L, hd] -> R [q, k, hd] with R[i, j] = rel_pos_resized[(i * max(k/q, 1) - j * max(q/k, 1)) + (k - 1) * max(q/k, 1)],
// rel_pos first resized along L with linear interpolation when L != 2 * max(q, k) - 1.
static struct vlm_tensor get_rel_pos(struct vlm_ctx * x, int32_t q_size, int32_t k_size, struct vlm_tensor rel_pos) {
    int64_t L = rel_pos.shape[0], hd = rel_pos.shape[1];
    int64_t max_rel = 2 * (q_size > k_size ? q_size : k_size) - 1;
    struct vlm_tensor table = rel_pos;
    if (L != max_rel) {
        // F.interpolate(rel_pos.reshape(1, L, -1).permute(0, 2, 1), size=max_rel, mode="linear"):
        // a bilinear resize of [1, hd, 1, L] to [1, hd, 1, max_rel] (the height factor is exact).
        struct vlm_tensor t = permute(reshape(rel_pos, 4, (int64_t[]){ 1, 1, L, hd }), 0, 3, 1, 2);   // [1, hd, 1, L]
        struct vlm_tensor r = vlm_op_interpolate(x, t, 1, max_rel, false);                          // [1, hd, 1, M]
        table = vlm_op_copy(x, permute(r, 0, 2, 3, 1), F32);                                          // [1, 1, M, hd]
        table = reshape(table, 2, (int64_t[]){ max_rel, hd });
    }
    double qs = k_size > q_size ? (double)k_size / q_size : 1.0;
    double ks = q_size > k_size ? (double)q_size / k_size : 1.0;
    int32_t * ids = malloc((size_t)q_size * (size_t)k_size * sizeof(int32_t));
    if (!ids) {
        vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        struct vlm_tensor e;
        memset(&e, 0, sizeof e);
        return e;
    }
    for (int32_t i = 0; i < q_size; i++)
        for (int32_t j = 0; j < k_size; j++)
            ids[i * k_size + j] = (int32_t)((i * qs - j * ks) + (k_size - 1) * ks);
    struct vlm_tensor idt = vlm_tensor_from_host(x, VLM_DTYPE_I32, 1, (int64_t[]){ (int64_t)q_size * k_size }, ids);
    free(ids);
    struct vlm_tensor g = vlm_op_gather(x, table, idt);   // [q * k, hd]
    return reshape(g, 3, (int64_t[]){ q_size, k_size, hd });
}

enum vlm_status vlm_sam_encoder_prepare(struct vlm_sam_model * sm, size_t * off) {
    struct vlm_ctx * x = sm->ctx;
    for (int32_t i = 0; i < sm->depth && vlm_ctx_ok(x); i++) {
        struct vlm_sam_block * b = &sm->blocks[i];
        int64_t S = b->size, hd = sm->head_dim;
        size_t n = (size_t)(S * S * hd) * sizeof(float), a = 0;
        vlm_align_size(n, 256, &a);
        b->rh = vlm_tensor_in(sm->pbuf, *off, F32, 3, (int64_t[]){ S, S, hd });
        b->rw = vlm_tensor_in(sm->pbuf, *off + a, F32, 3, (int64_t[]){ S, S, hd });
        *off += 2 * a;
        size_t mark = vlm_arena_mark(x);
        vlm_op_copy_into(x, b->rh, get_rel_pos(x, b->size, b->size, b->rel_pos_h));
        vlm_op_copy_into(x, b->rw, get_rel_pos(x, b->size, b->size, b->rel_pos_w));
        vlm_ctx_sync(x);
        vlm_arena_reset(x, mark);
        dbg(x, "rh", b->rh);
        dbg(x, "rw", b->rw);
    }
    return x->status;
}

// ref: segment_anything/modeling/image_encoder.py Attention.forward (use_rel_pos=True) and
// add_decomposed_rel_pos. xin [B, S*S, D] -> [B, S*S, D].
static struct vlm_tensor attention(struct vlm_ctx * x, struct vlm_sam_model * sm, const struct vlm_sam_block * blk, struct vlm_tensor xin) {
    const int64_t B = xin.shape[0], T = xin.shape[1], D = sm->embed_dim, H = sm->heads, hd = sm->head_dim, S = blk->size;
    struct vlm_tensor qkv = vlm_op_linear(x, xin, blk->qkv_w, &blk->qkv_b);   // [B, T, 3D]
    if (!vlm_ctx_ok(x)) return qkv;
    // q, k, v: views [B, H, T, hd] of qkv (feature index s*D + h*hd + c)
    struct vlm_tensor q = qkv, k, v;
    q.n_dims = 4;
    q.shape[0] = B; q.shape[1] = H; q.shape[2] = T; q.shape[3] = hd;
    q.stride[0] = T * 3 * D; q.stride[1] = hd; q.stride[2] = 3 * D; q.stride[3] = 1;
    k = q;
    k.offset += (size_t)D * sizeof(float);
    v = q;
    v.offset += 2 * (size_t)D * sizeof(float);
    struct vlm_tensor qc = vlm_op_copy(x, q, F32);   // [B, H, T, hd] contiguous (unscaled q)
    dbg(x, "attn.qkv", qkv);
    dbg(x, "attn.qc", qc);
    struct vlm_tensor q4 = reshape(qc, 4, (int64_t[]){ B * H, S, S, hd });   // [BH, qh, qw, hd]
    // rel_h[b, qh, qw, kh] = sum_c q[b, qh, qw, c] * Rh[qh, kh, c]: batched over qh
    struct vlm_tensor qh = vlm_op_copy(x, permute(q4, 1, 0, 2, 3), F32);                  // [qh, BH, qw, hd]
    struct vlm_tensor rh = vlm_op_matmul(x, reshape(qh, 3, (int64_t[]){ S, B * H * S, hd }),
                                         vlm_tensor_transpose(blk->rh, 1, 2));              // [qh, BH*qw, kh]
    struct vlm_tensor rel_h = vlm_op_copy(x, permute(reshape(rh, 4, (int64_t[]){ S, B * H, S, S }), 1, 0, 2, 3), F32);
    rel_h = reshape(rel_h, 4, (int64_t[]){ B, H, T, S });                                   // [B, H, T, kh]
    // rel_w[b, qh, qw, kw] = sum_c q[b, qh, qw, c] * Rw[qw, kw, c]: batched over qw
    struct vlm_tensor qw = vlm_op_copy(x, permute(q4, 2, 0, 1, 3), F32);                  // [qw, BH, qh, hd]
    struct vlm_tensor rw = vlm_op_matmul(x, reshape(qw, 3, (int64_t[]){ S, B * H * S, hd }),
                                         vlm_tensor_transpose(blk->rw, 1, 2));              // [qw, BH*qh, kw]
    struct vlm_tensor rel_w = vlm_op_copy(x, permute(reshape(rw, 4, (int64_t[]){ S, B * H, S, S }), 1, 2, 0, 3), F32);
    rel_w = reshape(rel_w, 4, (int64_t[]){ B, H, T, S });                                   // [B, H, T, kw]
    struct vlm_attention_params ap = { .scale = 1.0f / sqrtf((float)hd), .rel_h = &rel_h, .rel_w = &rel_w };
    dbg(x, "attn.rel_h", rel_h);
    dbg(x, "attn.rel_w", rel_w);
    struct vlm_tensor o = vlm_op_attention(x, qc, k, v, &ap);                               // [B, H, T, hd]
    dbg(x, "attn.o", o);
    struct vlm_tensor om = vlm_op_copy(x, permute(o, 0, 2, 1, 3), F32);                     // [B, T, H, hd]
    om = reshape(om, 3, (int64_t[]){ B, T, D });
    return vlm_op_linear(x, om, blk->proj_w, &blk->proj_b);                                  // [B, T, D]
}

struct vlm_tensor vlm_sam_window_partition(struct vlm_ctx * x, struct vlm_tensor pad, int64_t ws) {
    const int64_t Hp = pad.shape[0], Wp = pad.shape[1], D = pad.shape[2], nh = Hp / ws, nw = Wp / ws;
    struct vlm_tensor win = vlm_tensor_new(x, F32, 4, (int64_t[]){ nh * nw, ws, ws, D });
    for (int64_t wy = 0; wy < nh && vlm_ctx_ok(x); wy++) {
        struct vlm_tensor rows = reshape(vlm_tensor_slice(pad, 0, wy * ws, ws), 4, (int64_t[]){ ws, nw, ws, D });
        vlm_op_copy_into(x, vlm_tensor_slice(win, 0, wy * nw, nw), permute(rows, 1, 0, 2, 3));
    }
    return reshape(win, 3, (int64_t[]){ nh * nw, ws * ws, D });
}

struct vlm_tensor vlm_sam_window_unpartition(struct vlm_ctx * x, struct vlm_tensor win, int64_t ws, int64_t Hp, int64_t Wp) {
    const int64_t D = win.shape[2], nh = Hp / ws, nw = Wp / ws;
    struct vlm_tensor out = vlm_tensor_new(x, F32, 3, (int64_t[]){ Hp, Wp, D });
    struct vlm_tensor w4 = reshape(win, 4, (int64_t[]){ nh * nw, ws, ws, D });
    for (int64_t wy = 0; wy < nh && vlm_ctx_ok(x); wy++) {
        struct vlm_tensor src = permute(vlm_tensor_slice(w4, 0, wy * nw, nw), 1, 0, 2, 3);   // [ty, wx, tx, D]
        struct vlm_tensor dst = reshape(vlm_tensor_slice(out, 0, wy * ws, ws), 4, (int64_t[]){ ws, nw, ws, D });
        vlm_op_copy_into(x, dst, src);
    }
    return out;
}

// ref: segment_anything/modeling/image_encoder.py ImageEncoderViT neck (MobileSAM's TinyViT has the same):
// Conv1x1 (no bias) -> LayerNorm2d -> Conv3x3 (no bias) -> LayerNorm2d
void vlm_sam_neck(struct vlm_ctx * x, struct vlm_sam_model * sm, struct vlm_tensor tokens, struct vlm_tensor out) {
    const int64_t C = sm->prompt_dim, G = sm->grid, D = sm->embed_dim;
    struct vlm_tensor n0 = vlm_op_linear(x, tokens, reshape(sm->neck0_w, 2, (int64_t[]){ C, D }), NULL);   // [T, C]
    // LayerNorm2d over channels == layer norm of each token's C values
    struct vlm_tensor n1 = vlm_op_layer_norm(x, n0, &sm->neck1_w, &sm->neck1_b, 1e-6f);
    struct vlm_tensor nchw = vlm_op_copy(x, permute(reshape(n1, 4, (int64_t[]){ 1, G, G, C }), 0, 3, 1, 2), F32);   // [1, C, G, G]
    struct vlm_tensor n2 = vlm_op_conv2d(x, nchw, sm->neck2_w, NULL, 1, 1);
    struct vlm_tensor n3 = vlm_op_layer_norm_2d(x, n2, sm->neck3_w, sm->neck3_b, 1e-6f);
    dbg(x, "neck.n0", n0);
    dbg(x, "neck.nchw", nchw);
    dbg(x, "neck.n2", n2);
    vlm_op_copy_into(x, out, n3);
}

// ref: segment_anything/modeling/image_encoder.py ImageEncoderViT.forward, Block.forward
enum vlm_status vlm_sam_encode(struct vlm_ctx * x, struct vlm_sam_model * sm, const float * pixels, struct vlm_tensor out) {
    if (!vlm_ctx_ok(x)) return x->status;
    if (sm->tinyvit) return vlm_tinyvit_encode(x, sm, pixels, out);
    if (sm->effsam) return vlm_effsam_encode(x, sm, pixels, out);
    const size_t mark0 = vlm_arena_mark(x);
    const int64_t G = sm->grid, D = sm->embed_dim, S = sm->img_size, ws = sm->window;
    const int64_t Gp = ws ? (G + ws - 1) / ws * ws : G;

    struct vlm_tensor img = vlm_tensor_from_host(x, F32, 4, (int64_t[]){ 1, 3, S, S }, pixels);
    struct vlm_tensor pe = vlm_op_conv2d(x, img, sm->patch_w, &sm->patch_b, sm->patch, 0);   // [1, D, G, G]
    // tokens [G, G, D] (NHWC) + pos_embed
    struct vlm_tensor h = vlm_op_add(x, permute(pe, 0, 2, 3, 1), sm->pos_embed);           // [1, G, G, D]
    dbg(x, "patch", pe);
    dbg(x, "tokens", h);
    h = reshape(h, 3, (int64_t[]){ G, G, D });

    // zero-padded window grid [Gp, Gp, D]: its padding stays zero (only [:G, :G] is written)
    struct vlm_tensor pad;
    memset(&pad, 0, sizeof pad);
    if (ws && vlm_ctx_ok(x)) {
        pad = vlm_tensor_new(x, F32, 3, (int64_t[]){ Gp, Gp, D });
        float * zeros = calloc((size_t)(Gp * Gp * D), sizeof(float));
        if (!zeros) return vlm_ctx_fail(x, VLM_STATUS_OUT_OF_MEMORY, "out of memory");
        vlm_tensor_upload(x, pad, zeros);
        free(zeros);
    }

    for (int32_t i = 0; i < sm->depth && vlm_ctx_ok(x); i++) {
        const struct vlm_sam_block * b = &sm->blocks[i];
        const size_t mark = vlm_arena_mark(x);
        struct vlm_tensor ln = vlm_op_layer_norm(x, h, &b->norm1_w, &b->norm1_b, 1e-6f);   // [G, G, D]
        struct vlm_tensor h1;
        if (b->global) {
            struct vlm_tensor a = attention(x, sm, b, reshape(ln, 3, (int64_t[]){ 1, G * G, D }));   // [1, T, D]
            h1 = vlm_op_add(x, h, reshape(a, 3, (int64_t[]){ G, G, D }));
        } else {
            // window_partition pads after norm1: padded tokens are exact zeros (and take part
            // in attention as keys / values, unmasked, as upstream)
            vlm_op_copy_into(x, vlm_tensor_slice(vlm_tensor_slice(pad, 0, 0, G), 1, 0, G), ln);
            struct vlm_tensor win = vlm_sam_window_partition(x, pad, ws);       // [nW, ws*ws, D]
            dbg(x, "pad", pad);
            dbg(x, "win", win);
            struct vlm_tensor a = attention(x, sm, b, win);                // [nW, ws*ws, D]
            struct vlm_tensor un = vlm_sam_window_unpartition(x, a, ws, Gp, Gp); // [Gp, Gp, D]
            h1 = vlm_op_add(x, h, vlm_tensor_slice(vlm_tensor_slice(un, 0, 0, G), 1, 0, G));
        }
        // MLP: lin2(GELU(lin1(norm2(x))))
        struct vlm_tensor ln2 = vlm_op_layer_norm(x, h1, &b->norm2_w, &b->norm2_b, 1e-6f);
        struct vlm_tensor m = vlm_op_linear(x, ln2, b->lin1_w, &b->lin1_b);                 // [G, G, mlp]
        m = vlm_op_unary(x, VLM_UNARY_GELU_ERF, m);
        m = vlm_op_linear(x, m, b->lin2_w, &b->lin2_b);                                     // [G, G, D]
        dbg(x, "block.h1", h1);
        vlm_op_copy_into(x, h, vlm_op_add(x, h1, m));
        dbg(x, "block.out", h);
        vlm_arena_reset(x, mark);
    }

    vlm_sam_neck(x, sm, reshape(h, 2, (int64_t[]){ G * G, D }), out);
    dbg(x, "embedding", out);
    vlm_ctx_sync(x);
    vlm_arena_reset(x, mark0);
    return x->status;
}
