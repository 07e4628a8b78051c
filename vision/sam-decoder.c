// sam-decoder.c — SAM mask decoder: two-way transformer, output upscaling, hypernetwork MLPs
// and the IoU head, batched over prompts, as ops.
#include <math.h>
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

// View of a [B, N, Ci] projection as heads [B, H, N, Ci/H] (contiguous head blocks).
static struct vlm_tensor heads_view(struct vlm_tensor t, int64_t H) {
    const int64_t B = t.shape[0], N = t.shape[1], Ci = t.shape[2];
    return permute(reshape(t, 4, (int64_t[]){ B, N, H, Ci / H }), 0, 2, 1, 3);
}

// A batch-1 tensor viewed as batch B (stride 0): the image side is the same for every prompt.
static struct vlm_tensor batch_view(struct vlm_tensor t, int64_t B) {
    if (t.shape[0] == 1 && B > 1) {
        t.shape[0] = B;
        t.stride[0] = 0;
    }
    return t;
}

// Projected attention inputs; n_dims == 0: project from the input.
struct dec_proj { struct vlm_tensor q, k, v; };

// ref: segment_anything/modeling/transformer.py Attention.forward
// q_in [B or 1, Nq, C], k_in / v_in [B or 1, Nk, C] -> [B, Nq, C]; an input of batch 1 is
// projected once and shared by the B prompts; pre (or NULL) supplies projections.
static struct vlm_tensor dec_attention(struct vlm_ctx * x, struct vlm_sam_model * sm, const struct vlm_sam_attn * a, struct vlm_tensor q_in,
                                       struct vlm_tensor k_in, struct vlm_tensor v_in, const struct dec_proj * pre) {
    const int64_t H = sm->dec_heads, Ci = a->internal;
    struct vlm_tensor q = pre && pre->q.n_dims ? pre->q : vlm_op_linear(x, q_in, a->q_w, &a->q_b);   // [B or 1, Nq, Ci]
    struct vlm_tensor k = pre && pre->k.n_dims ? pre->k : vlm_op_linear(x, k_in, a->k_w, &a->k_b);   // [B or 1, Nk, Ci]
    struct vlm_tensor v = pre && pre->v.n_dims ? pre->v : vlm_op_linear(x, v_in, a->v_w, &a->v_b);
    if (!vlm_ctx_ok(x)) return q;
    const int64_t Nq = q.shape[1];
    int64_t B = q.shape[0] > k.shape[0] ? q.shape[0] : k.shape[0];
    if (v.shape[0] > B) B = v.shape[0];
    struct vlm_attention_params ap = { .scale = 1.0f / sqrtf((float)(Ci / H)) };
    struct vlm_tensor o = vlm_op_attention(x, batch_view(heads_view(q, H), B), batch_view(heads_view(k, H), B),
                                           batch_view(heads_view(v, H), B), &ap);                        // [B, H, Nq, c]
    struct vlm_tensor om = vlm_op_copy(x, permute(o, 0, 2, 1, 3), F32);                                     // [B, Nq, H, c]
    return vlm_op_linear(x, reshape(om, 3, (int64_t[]){ B, Nq, Ci }), a->o_w, &a->o_b);
}

static struct vlm_tensor permute3(struct vlm_tensor t, int32_t a, int32_t b, int32_t c) {
    return vlm_tensor_permute(t, (int32_t[]){ a, b, c });
}

// Rows [.., Ci] of a projection viewed head-first: [H, N, Ci/H] (a view, N = all leading rows).
static struct vlm_tensor heads_first(struct vlm_tensor t, int64_t H) {
    const int64_t Ci = t.shape[t.n_dims - 1];
    return permute3(reshape(t, 3, (int64_t[]){ vlm_tensor_numel(&t) / Ci, H, Ci / H }), 1, 0, 2);
}

// [P, Q*R, D] -> [Q, P*R, D] (a copy): head-first rows [H, B*N, D] to prompt-first [B, H*N, D] and back.
static struct vlm_tensor regroup(struct vlm_ctx * x, struct vlm_tensor t, int64_t Q) {
    const int64_t P = t.shape[0], R = t.shape[1] / Q, D = t.shape[2];
    struct vlm_tensor c = vlm_op_copy(x, permute(reshape(t, 4, (int64_t[]){ P, Q, R, D }), 1, 0, 2, 3), F32);
    return reshape(c, 3, (int64_t[]){ Q, P * R, D });
}

// ref: transformer.py Attention.forward for a few query tokens against the T image tokens
// (token-to-image and final attention), without projecting the image tokens. With
// q_h = q_in Wq_h^T + bq_h (head h's rows of the projections):
//   softmax(s q_h (k_in Wk_h^T + bk_h)^T) = softmax(s (q_h Wk_h) k_in^T)   (q_h bk_h: the same for every key)
//   softmax(..) (v_in Wv_h^T + bv_h)      = (softmax(..) v_in) Wv_h^T + bv_h (rows of softmax sum to 1)
// so the image tokens meet [H * Nq, C] rows twice instead of the [T, C] x [C, Ci] key and
// value projections (T = 4096 against H * Nq = 56 for ViT-B with one point).
// q_in [B, Nq, C], k_in / v_in [B or 1, T, C] -> [B, Nq, C]
static struct vlm_tensor dec_attention_to_image(struct vlm_ctx * x, struct vlm_sam_model * sm, const struct vlm_sam_attn * a, struct vlm_tensor q_in,
                                                struct vlm_tensor k_in, struct vlm_tensor v_in) {
    const int64_t H = sm->dec_heads, Ci = a->internal, c = Ci / H;
    const int64_t B = q_in.shape[0], Nq = q_in.shape[1], C = q_in.shape[2];
    struct vlm_tensor q = vlm_op_linear(x, q_in, a->q_w, &a->q_b);                               // [B, Nq, Ci]
    struct vlm_tensor qk = vlm_op_matmul(x, heads_first(q, H), reshape(a->k_w, 3, (int64_t[]){ H, c, C }));   // [H, B*Nq, C]
    struct vlm_tensor qkb = regroup(x, qk, B);                                                  // [B, H*Nq, C]
    if (!vlm_ctx_ok(x)) return qkb;
    struct vlm_tensor s = vlm_op_matmul(x, qkb, vlm_tensor_transpose(k_in, 1, 2));               // [B, H*Nq, T]
    s = vlm_op_softmax(x, s, 1.0f / sqrtf((float)c), NULL);
    struct vlm_tensor o = regroup(x, vlm_op_matmul(x, s, v_in), H);                               // [H, B*Nq, C]
    struct vlm_tensor wv = vlm_tensor_transpose(reshape(a->v_w, 3, (int64_t[]){ H, c, C }), 1, 2);       // [H, C, c]
    o = vlm_op_matmul(x, o, wv);                                                                  // [H, B*Nq, c]
    o = vlm_op_add(x, o, reshape(a->v_b, 3, (int64_t[]){ H, 1, c }));
    struct vlm_tensor om = vlm_op_copy(x, permute3(o, 1, 0, 2), F32);                                    // [B*Nq, H, c]
    return vlm_op_linear(x, reshape(om, 3, (int64_t[]){ B, Nq, Ci }), a->o_w, &a->o_b);
}

// ref: transformer.py Attention.forward for the T image tokens as queries against a few
// tokens (image-to-token), without the [T, Ci] x [Ci, C] output projection, and without the
// query projection of the image tokens unless q (its result, cached) is given. With k_h, v_h
// the projected tokens of head h and Wo_h head h's columns of the output projection:
//   (q_in Wq_h^T + bq_h) k_h^T      = q_in (k_h Wq_h)^T + (k_h bq_h)^T
//   concat_h(P_h v_h) Wo^T + bo     = [P_1 .. P_H] [v_1 Wo_1^T + bo / H; ..; v_H Wo_H^T + bo / H]
// (each P_h's rows sum to 1, so the H heads add bo once), so the image tokens meet [C, H * Nk]
// and [H * Nk, C] matrices instead of [C, Ci] and [Ci, C] ones.
// q_in [B or 1, T, C] or q [1, T, Ci] (q_in unused), k_in / v_in [B, Nk, C] -> [B, T, C]
static struct vlm_tensor dec_attention_from_image(struct vlm_ctx * x, struct vlm_sam_model * sm, const struct vlm_sam_attn * a,
                                                  struct vlm_tensor q_in, struct vlm_tensor k_in, struct vlm_tensor v_in,
                                                  const struct vlm_tensor * q) {
    const int64_t H = sm->dec_heads, Ci = a->internal, c = Ci / H;
    const int64_t B = k_in.shape[0], Nk = k_in.shape[1], T = q_in.shape[1], C = q_in.shape[2];
    struct vlm_tensor k = heads_first(vlm_op_linear(x, k_in, a->k_w, &a->k_b), H);               // [H, B*Nk, c]
    struct vlm_tensor v = heads_first(vlm_op_linear(x, v_in, a->v_w, &a->v_b), H);
    struct vlm_tensor wo = permute3(reshape(a->o_w, 3, (int64_t[]){ C, H, c }), 1, 2, 0);                 // [H, c, C]
    struct vlm_tensor vo = regroup(x, vlm_op_matmul(x, v, wo), B);                                   // [B, H*Nk, C]
    vo = vlm_op_add(x, vo, vlm_op_scale(x, a->o_b, 1.0f / (float)H, 0.0f));
    const float scale = 1.0f / sqrtf((float)c);
    struct vlm_tensor p;                                                                          // [B, T, H, Nk]
    if (q) {
        // scores [H, T, B*Nk] of every head of the cached projection against every prompt's keys
        struct vlm_tensor s = vlm_op_matmul(x, heads_first(*q, H), vlm_tensor_transpose(k, 1, 2));
        s = vlm_op_softmax(x, reshape(s, 4, (int64_t[]){ H, T, B, Nk }), scale, NULL);
        p = vlm_op_copy(x, permute(s, 2, 1, 0, 3), F32);
    } else {
        struct vlm_tensor kq = regroup(x, vlm_op_matmul(x, k, reshape(a->q_w, 3, (int64_t[]){ H, c, C })), B);   // [B, H*Nk, C]
        struct vlm_tensor kb = vlm_op_matmul(x, k, reshape(a->q_b, 3, (int64_t[]){ H, c, 1 }));                // [H, B*Nk, 1]
        if (!vlm_ctx_ok(x)) return kb;
        // scores [B, T, H, Nk] = scale * (q_in kq^T + kb): kb as the softmax's additive term [B, 1, H, Nk]
        struct vlm_tensor bias = vlm_op_scale(x, permute(reshape(kb, 4, (int64_t[]){ H, B, 1, Nk }), 1, 2, 0, 3), scale, 0.0f);
        struct vlm_tensor s = vlm_op_matmul(x, q_in, vlm_tensor_transpose(kq, 1, 2));                      // [B, T, H*Nk]
        p = vlm_op_softmax(x, reshape(s, 4, (int64_t[]){ B, T, H, Nk }), scale, &bias);
    }
    return vlm_op_matmul(x, reshape(p, 3, (int64_t[]){ B, T, H * Nk }), vo);                               // [B, T, C]
}

uint64_t vlm_sam_next_serial(void) {
    static uint64_t serial;
    return __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED);
}

// src = repeat_interleave(image_embeddings, B) + dense, flattened token-major: the keys
// [1 or B, T, C] from emb [1, C, G, G] and dense [1 or B, C, G or 1, G or 1].
static struct vlm_tensor embed_keys(struct vlm_ctx * x, struct vlm_tensor emb, struct vlm_tensor dense) {
    struct vlm_tensor keys = vlm_op_add(x, permute(emb, 0, 2, 3, 1), permute(dense, 0, 2, 3, 1));   // [1 or B, G, G, C]
    return reshape(keys, 3, (int64_t[]){ keys.shape[0], keys.shape[1] * keys.shape[2], keys.shape[3] });
}

// The keys [1, T, C] (token-major embedding + dense prompt) of an embedding without mask
// input and layer 0's image-side projections of them, from the session's cache: computed and stored
// there first when they belong to another embedding. Returns the keys.
static struct vlm_tensor layer0_cache(struct vlm_ctx * x, struct vlm_sam_model * sm, struct vlm_sam_dec_cache * cache,
                                      struct vlm_tensor emb, struct vlm_tensor dense, uint64_t serial,
                                      struct dec_proj * t2i, struct dec_proj * i2t) {
    const struct vlm_sam_dec_layer * L = &sm->layers[0];
    const int64_t C = sm->prompt_dim, T = sm->grid * sm->grid, ck = L->t2i.internal, cq = L->i2t.internal;
    size_t off[4] = { 0 }, end = 0;
    const int64_t width[4] = { C, ck, ck, cq };
    for (int i = 0; i < 4; i++) {
        off[i] = end;
        end = (end + (size_t)(T * width[i]) * sizeof(float) + 255) & ~(size_t)255;   // aligned bindings
    }
    struct vlm_tensor c[4];
    if (!cache->buf) {
        cache->serial = 0;
        if (!(cache->buf = vlm_buffer_new(x, end))) return (struct vlm_tensor){ 0 };   // the context holds the error
    }
    for (int i = 0; i < 4; i++) c[i] = vlm_tensor_in(cache->buf, off[i], F32, 3, (int64_t[]){ 1, T, width[i] });
    if (cache->serial != serial) {
        vlm_op_copy_into(x, c[0], embed_keys(x, emb, dense));
        struct vlm_tensor k = vlm_op_add(x, c[0], sm->dense_pe);
        vlm_op_copy_into(x, c[1], vlm_op_linear(x, k, L->t2i.k_w, &L->t2i.k_b));
        vlm_op_copy_into(x, c[2], vlm_op_linear(x, c[0], L->t2i.v_w, &L->t2i.v_b));
        vlm_op_copy_into(x, c[3], vlm_op_linear(x, k, L->i2t.q_w, &L->i2t.q_b));
        cache->serial = vlm_ctx_ok(x) ? serial : 0;
    }
    t2i->k = c[1];
    t2i->v = c[2];
    i2t->q = c[3];
    return c[0];
}

// ref: segment_anything/modeling/mask_decoder.py MLP.forward (ReLU between layers, no sigmoid);
// EfficientSAM mlp.py MLPBlock.forward (GELU)
static struct vlm_tensor mlp(struct vlm_ctx * x, const struct vlm_sam_mlp * m, struct vlm_tensor h) {
    for (int32_t i = 0; i < m->n_layers; i++) {
        h = vlm_op_linear(x, h, m->w[i], &m->b[i]);
        if (i < m->n_layers - 1) h = vlm_op_unary(x, m->act, h);
    }
    return h;
}

// ref: torch.nn.GroupNorm(1, c) (EfficientSAM's upscaling): [B, c, H, W] normalized over each
// prompt's c * H * W values together, then per-channel weight and bias; eps 1e-5.
static struct vlm_tensor group_norm1(struct vlm_ctx * x, struct vlm_tensor h, struct vlm_tensor w, struct vlm_tensor b) {
    const int64_t B = h.shape[0], c = h.shape[1], H = h.shape[2], W = h.shape[3];
    struct vlm_tensor n = vlm_op_layer_norm(x, vlm_tensor_reshape(h, 2, (int64_t[]){ B, c * H * W }), NULL, NULL, 1e-5f);
    n = vlm_op_mul(x, vlm_tensor_reshape(n, 4, (int64_t[]){ B, c, H, W }), vlm_tensor_reshape(w, 4, (int64_t[]){ 1, c, 1, 1 }));
    return vlm_op_add(x, n, vlm_tensor_reshape(b, 4, (int64_t[]){ 1, c, 1, 1 }));
}

static struct vlm_tensor ln(struct vlm_ctx * x, struct vlm_tensor h, const struct vlm_tensor * w, const struct vlm_tensor * b) {
    return vlm_op_layer_norm(x, h, w, b, 1e-5f);   // nn.LayerNorm default eps in the decoder
}

// ref: mask_decoder.py MaskDecoder.predict_masks + transformer.py TwoWayTransformer.forward
static enum vlm_status decode_chunk(struct vlm_ctx * x, struct vlm_sam_model * sm, struct vlm_sam_dec_cache * cache,
                                    struct vlm_tensor emb, uint64_t emb_serial, int32_t B, int32_t Nt,
                                    const float * tokens, const float * mask_inputs, float * masks_out, float * iou_out) {
    const int64_t C = sm->prompt_dim, G = sm->grid, NM = sm->n_mask_tokens, M = sm->mask_input_size;
    const size_t mark = vlm_arena_mark(x);

    // dense prompt embeddings: mask_downscaling(mask_input) or no_mask_embed broadcast
    struct vlm_tensor dense;
    if (mask_inputs) {
        struct vlm_tensor mi = vlm_tensor_from_host(x, F32, 4, (int64_t[]){ B, 1, M, M }, mask_inputs);
        dense = vlm_sam_embed_masks(x, sm, mi);                                                   // [B, C, G, G]
    } else {
        dense = vlm_tensor_from_host(x, F32, 4, (int64_t[]){ 1, C, 1, 1 }, sm->no_mask);       // [1, C, 1, 1]
    }
    // Without mask inputs the keys are the same for every prompt: they stay at batch 1 (and,
    // cached with the embedding, layer 0's image-side projections) until the first
    // image-to-token update.
    struct dec_proj pre_t2i = { 0 }, pre_i2t = { 0 };
    const bool cached = cache && !mask_inputs && emb_serial && sm->dec_depth > 0;
    struct vlm_tensor keys = cached ? layer0_cache(x, sm, cache, emb, dense, emb_serial, &pre_t2i, &pre_i2t) : embed_keys(x, emb, dense);
    struct vlm_tensor key_pe = sm->dense_pe;                                                   // [1, T, C]
    struct vlm_tensor query_pe = vlm_tensor_from_host(x, F32, 3, (int64_t[]){ B, Nt, C }, tokens);
    struct vlm_tensor queries = query_pe;

    for (int32_t l = 0; l < sm->dec_depth && vlm_ctx_ok(x); l++) {
        const struct vlm_sam_dec_layer * L = &sm->layers[l];
        const bool pre = l == 0 && cached;
        // self attention (layer 0 skips the PE and the residual)
        if (l == 0) {
            struct vlm_tensor a = dec_attention(x, sm, &L->self_attn, queries, queries, queries, NULL);
            // ref: EfficientSAM two_way_transformer.py TwoWayAttentionBlock.forward: with the residual
            queries = sm->effsam ? vlm_op_add(x, queries, a) : a;
        } else if (sm->effsam) {
            // ref: EfficientSAM TwoWayAttentionBlock.forward: queries = queries + query_pe, then
            // queries + self_attn(q=queries, k=queries, v=queries)
            struct vlm_tensor q = vlm_op_add(x, queries, query_pe);
            queries = vlm_op_add(x, q, dec_attention(x, sm, &L->self_attn, q, q, q, NULL));
        } else {
            struct vlm_tensor q = vlm_op_add(x, queries, query_pe);
            queries = vlm_op_add(x, queries, dec_attention(x, sm, &L->self_attn, q, q, queries, NULL));
        }
        queries = ln(x, queries, &L->norm_w[0], &L->norm_b[0]);
        // cross attention, tokens to image
        struct vlm_tensor q = vlm_op_add(x, queries, query_pe);
        struct vlm_tensor k = pre ? keys : vlm_op_add(x, keys, key_pe);                        // [1 or B, T, C]
        struct vlm_tensor t2i = pre ? dec_attention(x, sm, &L->t2i, q, k, keys, &pre_t2i) : dec_attention_to_image(x, sm, &L->t2i, q, k, keys);
        queries = ln(x, vlm_op_add(x, queries, t2i), &L->norm_w[1], &L->norm_b[1]);
        // MLP (ReLU; EfficientSAM GELU)
        struct vlm_tensor m = vlm_op_linear(x, queries, L->lin1_w, &L->lin1_b);
        m = vlm_op_unary(x, sm->dec_act, m);
        m = vlm_op_linear(x, m, L->lin2_w, &L->lin2_b);
        queries = ln(x, vlm_op_add(x, queries, m), &L->norm_w[2], &L->norm_b[2]);
        // cross attention, image to tokens
        q = vlm_op_add(x, queries, query_pe);
        struct vlm_tensor a = dec_attention_from_image(x, sm, &L->i2t, k, q, queries, pre ? &pre_i2t.q : NULL);   // [B, T, C]
        keys = ln(x, vlm_op_add(x, keys, a), &L->norm_w[3], &L->norm_b[3]);
    }
    {
        struct vlm_tensor q = vlm_op_add(x, queries, query_pe);
        struct vlm_tensor k = vlm_op_add(x, keys, key_pe);
        queries = ln(x, vlm_op_add(x, queries, dec_attention_to_image(x, sm, &sm->final_attn, q, k, keys)), &sm->norm_final_w,
                     &sm->norm_final_b);                                                       // hs [B, Nt, C]
    }

    // output upscaling: src [B, C, G, G] -> ConvT -> LayerNorm2d (EfficientSAM: GroupNorm(1)) -> GELU -> ConvT -> GELU
    struct vlm_tensor grid = batch_view(reshape(keys, 4, (int64_t[]){ keys.shape[0], G, G, C }), B);
    struct vlm_tensor src = permute(grid, 0, 3, 1, 2);                                        // channels-last view
    struct vlm_tensor up = vlm_op_conv_transpose2d(x, src, sm->up0_w, &sm->up0_b, 2);           // [B, C/4, 2G, 2G]
    up = sm->effsam ? group_norm1(x, up, sm->up1_w, sm->up1_b) : vlm_op_layer_norm_2d(x, up, sm->up1_w, sm->up1_b, 1e-6f);
    up = vlm_op_unary(x, VLM_UNARY_GELU_ERF, up);
    up = vlm_op_conv_transpose2d(x, up, sm->up3_w, &sm->up3_b, 2);                              // [B, C/8, 4G, 4G]
    up = vlm_op_unary(x, VLM_UNARY_GELU_ERF, up);

    // hypernetworks: one MLP per mask token -> hyper_in [B, NM, C/8]
    const int64_t c8 = sm->upscale_c2;
    struct vlm_tensor hyper = vlm_tensor_new(x, F32, 3, (int64_t[]){ B, NM, c8 });
    for (int32_t t = 0; t < NM && vlm_ctx_ok(x); t++) {
        struct vlm_tensor tok = vlm_tensor_slice(queries, 1, 1 + t, 1);                        // [B, 1, C]
        vlm_op_copy_into(x, vlm_tensor_slice(hyper, 1, t, 1), mlp(x, &sm->hyper[t], tok));
    }
    // masks = hyper_in @ upscaled.view(B, c8, h*w)
    struct vlm_tensor masks = vlm_op_matmul(x, hyper, reshape(up, 3, (int64_t[]){ B, c8, M * M }));   // [B, NM, M*M]
    struct vlm_tensor iou = mlp(x, &sm->iou_head, vlm_tensor_slice(queries, 1, 0, 1));          // [B, 1, NM]
    vlm_tensor_download(x, masks, masks_out);
    vlm_tensor_download(x, iou, iou_out);
    vlm_arena_reset(x, mark);
    return x->status;
}

enum vlm_status vlm_sam_decode(struct vlm_ctx * x, struct vlm_sam_model * sm, struct vlm_sam_dec_cache * cache, struct vlm_tensor emb,
                               uint64_t emb_serial, int32_t batch, int32_t n_tokens,
                               const float * tokens, const float * mask_inputs, float * masks_out, float * iou_out) {
    const size_t C = (size_t)sm->prompt_dim, M2 = (size_t)sm->mask_input_size * (size_t)sm->mask_input_size;
    const size_t NM = (size_t)sm->n_mask_tokens;
    for (int32_t b0 = 0; b0 < batch && vlm_ctx_ok(x); b0 += VLM_SAM_DEC_MAX_BATCH) {
        int32_t nb = batch - b0 < VLM_SAM_DEC_MAX_BATCH ? batch - b0 : VLM_SAM_DEC_MAX_BATCH;
        decode_chunk(x, sm, cache, emb, emb_serial, nb, n_tokens, tokens + (size_t)b0 * n_tokens * C,
                     mask_inputs ? mask_inputs + (size_t)b0 * M2 : NULL, masks_out + (size_t)b0 * NM * M2,
                     iou_out + (size_t)b0 * NM);
    }
    return x->status;
}
