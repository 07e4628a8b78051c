#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// attention.comp: fused (flash-style) attention, never materializing [Tq, Tk]:
//   out[b, h, i, :] = sum_j softmax_j(scale * q_i . k_j + bias_ij) v_j
//   bias_ij = mask[b, h, i, j] + rel_h[b, h, i, j / kw] + rel_w[b, h, i, j % kw],
//             -inf where causal and j > pos0 + i (pos0: keys cached before the first query).
// Grouped-query attention: query head h reads k/v head h / group.
// One invocation per query row (q and the output accumulator in registers); a workgroup of
// 64 rows of one (b, h) walks the keys in blocks of BC staged in shared memory. Every
// invocation reads the same key at the same time, so K and V reads are broadcasts (uniform
// loads on lavapipe). Online softmax per block: running max m, running sum l, rescaled
// accumulator. Rows whose every key is masked give zeros.
// Bindings: 0 q, 1 k, 2 v, 3 mask, 4 rel_h, 5 rel_w, 6 d (contiguous [B, H, Tq, Dv]),
//           7 params (uint[], see vk-ops.c attention_params). Dispatch: (ceil(Tq / 64), H, B).
layout(local_size_x = 64) in;
layout(constant_id = 1) const uint DMAX = 64;   // spec 1: max(D, Dv) rounded up to 16
layout(constant_id = 2) const uint BC = 32;     // spec 2: keys per block

#define BR 64u

layout(binding = 0) readonly buffer Q { float data_q[]; };
layout(binding = 1) readonly buffer K { float data_k[]; };
layout(binding = 2) readonly buffer V { float data_v[]; };
layout(binding = 3) readonly buffer MK { float data_m[]; };
layout(binding = 4) readonly buffer RH { float data_rh[]; };
layout(binding = 5) readonly buffer RW { float data_rw[]; };
layout(binding = 6) writeonly buffer D { float data_d[]; };
layout(binding = 7) readonly buffer P { uint prm[]; };

// k and v blocks as vec4 rows of DMAX / 4 (zero padded past D and Dv)
shared vec4 sk[BC * DMAX / 4];
shared vec4 sv[BC * DMAX / 4];

void main() {
    // every parameter read once into a local: the compiler cannot keep loads of a buffer that
    // might alias the output in registers across the key loop
    const uint Tq = prm[0], Tk = prm[1], Dq = prm[2], Dv = prm[3];
    const uint flags = prm[36];
    const float scale = uintBitsToFloat(prm[37]);
    const uint kw = prm[35];
    const uint b = gl_WorkGroupID.z, h = gl_WorkGroupID.y;
    const uint pos0 = prm[39], hkv = h / prm[40];
    const uint q0 = gl_WorkGroupID.x * BR;
    const uint tid = gl_LocalInvocationID.x;
    const uint i = q0 + tid;
    const bool row_ok = i < Tq;
    const float NEG_INF = -1.0 / 0.0;
    const uint D4 = DMAX / 4u;
    const bool causal = (flags & 2u) != 0u, has_mask = (flags & 1u) != 0u, has_rel = (flags & 4u) != 0u;
    const uint k_s = prm[13], k_d = prm[14], v_s = prm[18], v_d = prm[19];
    const uint m_s = prm[24], rh_s = prm[29], rw_s = prm[34];

    const uint qb = prm[5] + b * prm[6] + h * prm[7] + (row_ok ? i : 0u) * prm[8];
    const uint kb = prm[10] + b * prm[11] + hkv * prm[12];
    const uint vb = prm[15] + b * prm[16] + hkv * prm[17];
    const uint mb = prm[20] + b * prm[21] + h * prm[22] + i * prm[23];
    const uint rhb = prm[25] + b * prm[26] + h * prm[27] + i * prm[28];
    const uint rwb = prm[30] + b * prm[31] + h * prm[32] + i * prm[33];

    // q (pre-scaled) and the accumulator in registers: loops over D4, a specialization
    // constant, unroll; the zero padding past Dq / Dv adds nothing
    vec4 q[DMAX / 4], acc[DMAX / 4];
    const uint q_d = prm[9];
    for (uint d4 = 0u; d4 < D4; d4++) {
        vec4 v = vec4(0.0);
        for (uint j = 0u; j < 4u; j++)
            if (row_ok && d4 * 4u + j < Dq) v[j] = data_q[qb + (d4 * 4u + j) * q_d];
        q[d4] = v * scale;
        acc[d4] = vec4(0.0);
    }
    float m = NEG_INF, l = 0.0;
    float s[BC];

    for (uint k0 = 0u; k0 < Tk; k0 += BC) {
        if (causal && k0 > pos0 + q0 + BR - 1u) break;   // masked for every row of the workgroup
        barrier();
        for (uint e = tid; e < BC * D4; e += BR) {
            uint jj = fdiv(e, D4), d = (e - jj * D4) * 4u;
            vec4 kv = vec4(0.0), vv = vec4(0.0);
            if (k0 + jj < Tk)
                for (uint j = 0u; j < 4u; j++) {
                    if (d + j < Dq) kv[j] = data_k[kb + (k0 + jj) * k_s + (d + j) * k_d];
                    if (d + j < Dv) vv[j] = data_v[vb + (k0 + jj) * v_s + (d + j) * v_d];
                }
            sk[e] = kv;
            sv[e] = vv;
        }
        barrier();
        float mx = m;
        uint jh = has_rel ? fdiv(k0, kw) : 0u, jw = k0 - jh * kw;   // key k0 + jj = jh * kw + jw
        for (uint jj = 0u; jj < BC; jj++) {
            uint j = k0 + jj;
            float t = 0.0;
            for (uint d4 = 0u; d4 < D4; d4++) t += dot(q[d4], sk[jj * D4 + d4]);
            if (has_mask && row_ok && j < Tk) t += data_m[mb + j * m_s];
            if (has_rel && row_ok && j < Tk) t += data_rh[rhb + jh * rh_s] + data_rw[rwb + jw * rw_s];
            if (++jw == kw) { jw = 0u; jh++; }
            if (j >= Tk || (causal && j > pos0 + i)) t = NEG_INF;
            s[jj] = t;
            mx = max(mx, t);
        }
        if (mx != NEG_INF) {   // else nothing is visible yet for this row
            float alpha = exp(m - mx);   // m == -inf gives 0
            l *= alpha;
            for (uint d4 = 0u; d4 < D4; d4++) acc[d4] *= alpha;
            for (uint jj = 0u; jj < BC; jj++) {
                float pj = exp(s[jj] - mx);
                l += pj;
                for (uint d4 = 0u; d4 < D4; d4++) acc[d4] = fma(vec4(pj), sv[jj * D4 + d4], acc[d4]);
            }
            m = mx;
        }
    }
    if (!row_ok) return;
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    uint db = prm[38] + ((b * prm[4] + h) * Tq + i) * Dv;
    for (uint d4 = 0u; d4 < D4; d4++)
        for (uint j = 0u; j < 4u; j++)
            if (d4 * 4u + j < Dv) data_d[db + d4 * 4u + j] = acc[d4][j] * inv;
}
