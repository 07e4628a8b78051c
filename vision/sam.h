// sam.h — Segment Anything (facebookresearch/segment-anything) internals: the model state
// inferred from tensor shapes, the image encoder, prompt encoder, mask decoder and mask
// post-processing. The public API is the "Segment Anything" section of include/vlm.h.
//
// Layout: model code is straight-line C over the ops of core.h; it runs unchanged on the
// CPU and the Vulkan backend. Host-side math is limited to prompt preprocessing (coordinate
// transforms, Fourier features of a few points) and post-processing of downloaded logits.
#ifndef VLM_SAM_H
#define VLM_SAM_H

#include "core.h"
#include "model-config.h"
#include "model-family.h"

struct vlm_model;

#define VLM_SAM_MAX_BLOCKS     64
#define VLM_SAM_MAX_DEC_LAYERS 8
#define VLM_SAM_MAX_MASK_TOKENS 8
#define VLM_SAM_MAX_MLP_LAYERS 8
// Prompts per decoder call: bigger batches are split (results are independent per prompt).
#define VLM_SAM_DEC_MAX_BATCH  4

// ref: segment_anything/modeling/image_encoder.py Block / Attention
struct vlm_sam_block {
    struct vlm_tensor norm1_w, norm1_b, qkv_w, qkv_b, proj_w, proj_b;
    struct vlm_tensor norm2_w, norm2_b, lin1_w, lin1_b, lin2_w, lin2_b;
    struct vlm_tensor rel_pos_h, rel_pos_w;   // [L, hd] as stored
    struct vlm_tensor rh, rw;                 // get_rel_pos(): [S, S, hd] (persistent buffer)
    bool              global;                 // global attention over the whole grid
    int32_t           size;                   // attention grid side S: grid (global) or window
};

// ref: segment_anything/modeling/transformer.py Attention
struct vlm_sam_attn {
    struct vlm_tensor q_w, q_b, k_w, k_b, v_w, v_b, o_w, o_b;
    int32_t           internal;               // q/k/v projection width
};

// ref: segment_anything/modeling/mask_decoder.py MLP (EfficientSAM: mlp.py MLPBlock, GELU)
struct vlm_sam_mlp {
    int32_t           n_layers;
    enum vlm_unary    act;                    // between layers: ReLU (SAM), GELU (EfficientSAM)
    struct vlm_tensor w[VLM_SAM_MAX_MLP_LAYERS], b[VLM_SAM_MAX_MLP_LAYERS];
};

// ref: segment_anything/modeling/transformer.py TwoWayAttentionBlock
struct vlm_sam_dec_layer {
    struct vlm_sam_attn self_attn, t2i, i2t;
    struct vlm_tensor   norm_w[4], norm_b[4];
    struct vlm_tensor   lin1_w, lin1_b, lin2_w, lin2_b;
};

struct vlm_tinyvit;
struct vlm_effsam;

struct vlm_sam_model {
    struct vlm_model * model;
    struct vlm_ctx *   ctx;
    struct vlm_tinyvit * tinyvit;             // MobileSAM's image encoder (sam-tinyvit.c); NULL: SAM's ViT
    // EfficientSAM (yformer/EfficientSAM, sam-effsam.c): a plain ViT encoder; its input stretched
    // to img_size (no padding) and normalized on the 0..1 scale; max_points sparse tokens always
    // (padded with invalid points); no mask input; decoder self-attention with a residual and
    // the PE on the values in every layer, GELU MLPs, GroupNorm(1) in the upscaling; low-res
    // masks resized bicubically straight to the original size. NULL: SAM.
    struct vlm_effsam * effsam;
    int32_t           max_points;             // EfficientSAM's decoder_max_num_input_points (6)
    enum vlm_unary    dec_act;                // the two-way transformer's MLP: ReLU (SAM), GELU (EfficientSAM)

    // hyper-parameters inferred from tensor shapes (decoder heads and pixel normalization:
    // config.json, else upstream's); the released ViT-B/L/H sizes in the comments
    int32_t img_size, patch, grid;            // 1024, 16, 64
    int32_t embed_dim, depth, heads, head_dim, window, enc_mlp;   // MobileSAM: embed_dim its last stage's, depth 0
    int32_t prompt_dim;                       // neck / prompt / decoder width C
    int32_t mask_in_chans;
    int32_t dec_depth, dec_heads, dec_mlp;
    int32_t n_mask_tokens;                    // num_multimask_outputs + 1
    int32_t iou_hidden, iou_depth;
    int32_t upscale_c1, upscale_c2;           // C/4, C/8 (EfficientSAM: from the tensors)
    int32_t mask_input_size;                  // 4 * grid = 256
    float   pixel_mean[3], pixel_std[3];      // RGB, 0..255 scale (EfficientSAM: 0..1)

    // image encoder
    struct vlm_tensor    patch_w, patch_b, pos_embed;
    struct vlm_sam_block blocks[VLM_SAM_MAX_BLOCKS];
    struct vlm_tensor    neck0_w, neck1_w, neck1_b, neck2_w, neck3_w, neck3_b;

    // prompt encoder (small tables also kept on the host)
    float * pe_gauss;                         // [2, C/2]
    float * point_embed;                      // [4, C]: neg, pos, box TL, box BR (EfficientSAM: neg 0)
    float * not_a_point;                      // [C] (EfficientSAM: invalid_points)
    float * no_mask;                          // [C] (EfficientSAM: zeros, it has no dense prompt)
    float * out_tokens;                       // [1 + n_mask_tokens, C]: iou token, mask tokens
    struct vlm_tensor md_w[3], md_b[3];       // mask_downscaling convs 0, 3, 6
    struct vlm_tensor md_ln_w[2], md_ln_b[2]; // mask_downscaling LayerNorm2d 1, 4

    // mask decoder
    struct vlm_sam_dec_layer layers[VLM_SAM_MAX_DEC_LAYERS];
    struct vlm_sam_attn      final_attn;
    struct vlm_tensor        norm_final_w, norm_final_b;
    struct vlm_tensor        up0_w, up0_b, up1_w, up1_b, up3_w, up3_b;   // up1: LayerNorm2d (EfficientSAM: GroupNorm(1))
    struct vlm_sam_mlp       hyper[VLM_SAM_MAX_MASK_TOKENS];
    struct vlm_sam_mlp       iou_head;

    // persistent derived tensors (dense PE, gathered relative positions)
    struct vlm_buffer * pbuf;
    struct vlm_tensor   dense_pe;             // [1, grid*grid, C] token-major

};

// A session's decoder cache: the keys (embedding + no-mask prompt) and layer 0's image-side
// projections (token-to-image keys and values, image-to-token queries) of the embedding
// numbered `serial`: they depend only on the embedding when a prompt has no mask input, so
// the next prompt on the same image reuses them.
struct vlm_sam_dec_cache {
    struct vlm_buffer * buf;
    uint64_t            serial;               // 0: nothing cached
};

// The family (sam-family.c: detection, `vlm info`) and its hooks (sam-model.c). The arena of
// one compute context for a SAM model source (encoder peak vs decoder peak plus post-processing).
extern const struct vlm_model_family vlm_sam_family;
enum vlm_status vlm_sam_arena_bytes(const struct vlm_model_source * src, size_t * bytes);
// Infers the hyper-parameters from tensor shapes and config, looks up every weight (official or
// HF transformers names) and builds m->arch.
enum vlm_status vlm_sam_model_init(struct vlm_model * m);
// m's SAM state, NULL when m is not a SAM model.
struct vlm_sam_model * vlm_sam_of(const struct vlm_model * m);
// Name suffixes of SAM's linear weights (image encoder and decoder MLPs, attention projections
// of the encoder), NULL-terminated: kept as F16 / Q8_0 when a model is loaded so.
extern const char * const vlm_sam_linear_weights[];
void            vlm_sam_model_free(struct vlm_sam_model * sm);

// Weight lookup by official name (falls back to the HF SamModel name); shape -1 = any.
struct vlm_tensor vlm_sam_weight(struct vlm_sam_model * sm, const char * official, int32_t n_dims, const int64_t * shape);
bool              vlm_sam_has_weight(const struct vlm_sam_model * sm, const char * official);
// 1 + the largest N of the file's tensors "<prefix>N.*" (prefix an official name), 0 when none.
int64_t           vlm_sam_count_indexed(const struct vlm_safetensors * st, const char * official_prefix);

// ---- image encoder (sam-encoder.c) ----
// pixels: [3, img_size, img_size] normalized + padded. out: [1, C, grid, grid] (outside the
// arena). Returns the context status.
enum vlm_status vlm_sam_encode(struct vlm_ctx * x, struct vlm_sam_model * sm, const float * pixels, struct vlm_tensor out);
// get_rel_pos() for every block into the persistent buffer (called by init).
enum vlm_status vlm_sam_encoder_prepare(struct vlm_sam_model * sm, size_t * pbuf_offset);
size_t          vlm_sam_encoder_pbuf_bytes(const struct vlm_sam_model * sm);
// ref: image_encoder.py neck: tokens [grid*grid, embed_dim] -> out [1, C, grid, grid].
void            vlm_sam_neck(struct vlm_ctx * x, struct vlm_sam_model * sm, struct vlm_tensor tokens, struct vlm_tensor out);
// ref: image_encoder.py window_partition: padded [Hp, Wp, D] -> [nh*nw, ws*ws, D], and back.
struct vlm_tensor vlm_sam_window_partition(struct vlm_ctx * x, struct vlm_tensor pad, int64_t ws);
struct vlm_tensor vlm_sam_window_unpartition(struct vlm_ctx * x, struct vlm_tensor win, int64_t ws, int64_t Hp, int64_t Wp);

// ---- MobileSAM's TinyViT image encoder (sam-tinyvit.c) ----
#define VLM_TINYVIT_MAX_BLOCKS 32
bool            vlm_tinyvit_detect(const struct vlm_safetensors * st);
// Also checks the config's TinyViT keys (embed_dims, depths, num_heads, window_sizes, mlp_ratio,
// mbconv_expand_ratio: upstream TinyViT's arguments) against the shapes.
enum vlm_status vlm_tinyvit_dims(const struct vlm_model_source * src, int64_t img_size, struct vlm_tinyvit_dims * d);
size_t          vlm_tinyvit_arena_floats(const struct vlm_tinyvit_dims * d, int64_t img_size);
// Loads the encoder (Conv2d_BN folded, attention bias tables gathered) into sm->tinyvit. Errors
// are recorded on sm->ctx.
enum vlm_status vlm_tinyvit_init(struct vlm_sam_model * sm, const struct vlm_tinyvit_dims * d);
void            vlm_tinyvit_free(struct vlm_sam_model * sm);
// As vlm_sam_encode, for MobileSAM.
enum vlm_status vlm_tinyvit_encode(struct vlm_ctx * x, struct vlm_sam_model * sm, const float * pixels, struct vlm_tensor out);

// ---- EfficientSAM (sam-effsam.c) ----
bool            vlm_effsam_detect(const struct vlm_safetensors * st);
// The encoder's depth blocks and pos_embed (resized to the grid) into sm->effsam. Errors on sm->ctx.
enum vlm_status vlm_effsam_init(struct vlm_sam_model * sm, int32_t depth, int32_t heads, int32_t mlp);
void            vlm_effsam_free(struct vlm_sam_model * sm);
// As vlm_sam_encode, for EfficientSAM.
enum vlm_status vlm_effsam_encode(struct vlm_ctx * x, struct vlm_sam_model * sm, const float * pixels, struct vlm_tensor out);
// ref: efficient_sam.py EfficientSam.preprocess on ToTensor's input: RGB / 255, bilinear resize to
// img_size x img_size (align_corners False, no antialias), (x - mean) / std. out [3, S, S].
enum vlm_status vlm_effsam_preprocess(const struct vlm_sam_model * sm, const struct vlm_image * img, float * out);

// ---- prompt encoder (sam-prompt.c) ----
// Prompt in the model's input frame (already transformed by apply_coords). labels 0/1;
// box NULL for none. Writes the sparse embeddings [n_tokens, C] (n_tokens from
// vlm_sam_sparse_count).
// EfficientSAM: always sm->max_points (boxes count as two points; more is refused earlier).
int32_t vlm_sam_sparse_count(const struct vlm_sam_model * sm, int32_t n_points, bool has_box);
void    vlm_sam_embed_sparse(const struct vlm_sam_model * sm, const float * coords /* [n, 2] */,
                             const int32_t * labels, int32_t n_points, const float * box /* [4] or NULL */,
                             float * out);
// ref: prompt_encoder.py PositionEmbeddingRandom: Fourier features of (x, y) in [0, 1].
void    vlm_sam_pe_encode(const struct vlm_sam_model * sm, float x, float y, float * out /* [C] */);
// Dense embeddings of mask inputs [B, 1, 256, 256] -> [B, C, grid, grid] (ops).
struct vlm_tensor vlm_sam_embed_masks(struct vlm_ctx * x, struct vlm_sam_model * sm, struct vlm_tensor masks);
// Dense PE [grid*grid, C] (host, token-major) for init.
void    vlm_sam_dense_pe_host(const struct vlm_sam_model * sm, float * out);

// ---- mask decoder (sam-decoder.c) ----
// One batched decoder call. emb [1, C, G, G]; tokens host [B, Nt, C] (output tokens +
// sparse); dense: NULL for no mask (no_mask_embed), else device [B, C, G, G].
// Outputs on the host: masks [B, n_mask_tokens, 4G, 4G], iou [B, n_mask_tokens]. x: the
// caller's compute context; cache (NULL: none) the session's layer-0 cache, emb_serial the
// embedding's number in it (vlm_sam_next_serial; 0: not cached).
uint64_t        vlm_sam_next_serial(void);
enum vlm_status vlm_sam_decode(struct vlm_ctx * x, struct vlm_sam_model * sm, struct vlm_sam_dec_cache * cache, struct vlm_tensor emb,
                               uint64_t emb_serial, int32_t batch, int32_t n_tokens,
                               const float * tokens, const float * mask_inputs /* [B, 4G, 4G] or NULL */,
                               float * masks_out, float * iou_out);

// ---- post-processing (sam-post.c) ----
// ref: segment_anything/modeling/sam.py Sam.postprocess_masks for one mask: low-res logits
// [4G, 4G] -> bilinear to img_size -> crop [in_h, in_w] -> bilinear to [orig_h, orig_w] ->
// logits > mask_threshold 0. mask: [orig_h, orig_w] of 0 / 1. Runs on the host on the CPU
// backend (and for outputs larger than the arena), else on the backend, which thresholds too
// and hands back bytes.
enum vlm_status vlm_sam_postprocess(struct vlm_ctx * x, struct vlm_sam_model * sm, const float * low_res, int32_t in_h, int32_t in_w,
                                    int32_t orig_h, int32_t orig_w, uint8_t * mask);
// The same on the host, without the context (callable from several threads at once): only the
// crop of the img_size upsample is computed, and the second resize is skipped when the crop
// has the original size (it would copy). scratch: vlm_sam_post_scratch() floats; n_threads
// threads over rows (1 when the caller threads over masks). False when out of memory.
size_t vlm_sam_post_scratch(int32_t in_h, int32_t in_w, int32_t orig_h, int32_t orig_w);
bool   vlm_sam_postprocess_host(const struct vlm_sam_model * sm, const float * low_res, int32_t in_h, int32_t in_w,
                                int32_t orig_h, int32_t orig_w, float * out, float * scratch, int32_t n_threads);
// One plane through torch.nn.functional.interpolate (align_corners False), on the host:
// bilinear (no antialias) or bicubic (A = -0.75, edges clamped). False when out of memory.
bool   vlm_interp_plane(const float * src, int32_t in_h, int32_t in_w, float * dst, int32_t out_h, int32_t out_w, bool bicubic);

// ---- session internals (sam-api.c) ----
struct vlm_sam_session {
    const struct vlm_model * model;
    struct vlm_sam_model *   sm;
    struct vlm_buffer *      ebuf;            // image embedding storage on the model's device
    struct vlm_tensor        emb;             // [1, C, G, G]
    float *                  emb_host;        // host copy of emb (saving, and re-upload after a CPU fallback)
    uint32_t                 generation;      // model->generation that ebuf belongs to
    uint64_t                 emb_serial;      // numbers the embedding's content (decoder cache)
    struct vlm_sam_dec_cache dec_cache;       // on the model's device, like ebuf
    bool                     has_image;
    int32_t                  orig_h, orig_w;  // original image size
    int32_t                  in_h, in_w;      // ResizeLongestSide size
    struct vlm_image         resized;         // uint8 [in_h, in_w, 3] (empty after load_embedding)
    double                   encode_ms;
};
// After a device fault on an automatically chosen backend: moves the model to the CPU; the
// session's buffers follow at its next call. True when the caller should retry the failed call.
bool vlm_sam_session_fall_back(struct vlm_sam_session * s, enum vlm_status st);
// The model input's frame of an h x w image: ResizeLongestSide's (EfficientSAM: img_size square).
void vlm_sam_input_shape(const struct vlm_sam_model * sm, int32_t h, int32_t w, int32_t * in_h, int32_t * in_w);
// Transforms original-image (x, y) to the input frame as ResizeLongestSide.apply_coords.
void vlm_sam_apply_coords(const struct vlm_sam_session * s, double x, double y, float * ox, float * oy);

// ---- random checkpoints (sam-random.c) ----
// Writes a safetensors file with the official key names and shapes of variant "vit_b",
// "vit_l", "vit_h" or MobileSAM's "vit_t" (or "tiny": the fixture's sizes), weights ~N(0, 0.02),
// norms 1 / 0 (BatchNorm statistics 0 / 1).
enum vlm_status vlm_sam_write_random_checkpoint(const char * path, const char * variant, uint64_t seed);

// ---- segment everything (sam-everything.c) ----
// ref: segment_anything/utils/amg.py build_point_grid
void vlm_sam_point_grid(int32_t n_per_side, double * out /* [n*n, 2] */);
#endif // VLM_SAM_H
