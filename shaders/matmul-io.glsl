// matmul-io.glsl — what matmul.comp and matvec.comp share: the bindings (0 A (raw, A_DT), 1 B
// (raw, B_DT), 2 bias (raw, BIAS_DT), 3 D), the push constants (struct pc_matmul, core/vk-ops.c)
// and the accessors of A rows, B columns (W rows for LINEAR) and D. Batch index: gl_WorkGroupID.z.
layout(constant_id = 6) const uint A_DT = 0;
layout(constant_id = 7) const uint B_DT = 0;
layout(constant_id = 8) const uint HAS_BIAS = 0;
layout(constant_id = 9) const uint BIAS_DT = 0;

layout(binding = 0) readonly buffer A { uint data_a[]; };
layout(binding = 1) readonly buffer B { uint data_b[]; };
layout(binding = 2) readonly buffer C { uint data_c[]; };
layout(binding = 3) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_matmul (core/vk-ops.c)
    uint M, N, K, a_kcontig, b_ncontig;
    uint a_off, a_sb, a_sm0, a_sm1, a_m1, a_sk;
    uint b_off, b_sb, b_sk, b_sn;
    uint c_off, d_off, d_sm;   // d_sm: D's row stride (N, or more for a block of columns)
} p;

uint a_row(uint m) { uint r0 = fdiv(m, p.a_m1); return p.a_off + gl_WorkGroupID.z * p.a_sb + r0 * p.a_sm0 + (m - r0 * p.a_m1) * p.a_sm1; }
float a_load(uint base, uint k) { uint i = base + k * p.a_sk; return LOAD(data_a, A_DT, i); }
DEFINE_LOAD_BLOCK(load_block_b, data_b)

uint b_col(uint n) { return p.b_off + gl_WorkGroupID.z * p.b_sb + n * p.b_sn; }
float b_load(uint base, uint k) {
    if (B_DT >= DT_Q8_0) return load_block_b(B_DT, base, k);   // dequantized in the inner loop
    uint i = base + k * p.b_sk;
    return LOAD(data_b, B_DT, i);
}
void d_store(uint m, uint n, float v) {
    if (HAS_BIAS != 0u) { uint i = p.c_off + n; v += LOAD(data_c, BIAS_DT, i); }
    data_d[p.d_off + (gl_WorkGroupID.z * p.M + m) * p.d_sm + n] = v;
}

