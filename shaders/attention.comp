#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// attention.comp: fused (flash-style) attention, never materializing [Tq, Tk]:
//   out[b, h, i, :] = sum_j softmax_j(scale * q_i . k_j + bias_ij) v_j
//   bias_ij = mask[b, h, i, j] + rel_h[b, h, i, j / kw] + rel_w[b, h, i, j % kw],
//             -inf where causal and j > i.
// A workgroup owns BR = 16 query rows of one (b, h) and walks the keys in blocks of BC = 16
// with an online softmax (running max m, running sum l, rescaled accumulators).
// Thread (r, c): computes score (r, c) of each block and output columns c + 16 * t of row r.
// Rows whose every key is masked give zeros.
// Bindings: 0 q, 1 k, 2 v, 3 mask, 4 rel_h, 5 rel_w, 6 d (contiguous [B, H, Tq, Dv]),
//           7 params (uint[], see vk-ops.c attention_params). Dispatch: (ceil(Tq / 16), H, B).
layout(local_size_x = 256) in;
layout(constant_id = 1) const uint DMAX = 64;   // spec 1: max(D, Dv) rounded up to 16

#define BR 16u
#define BC 16u

layout(binding = 0) readonly buffer Q { float data_q[]; };
layout(binding = 1) readonly buffer K { float data_k[]; };
layout(binding = 2) readonly buffer V { float data_v[]; };
layout(binding = 3) readonly buffer MK { float data_m[]; };
layout(binding = 4) readonly buffer RH { float data_rh[]; };
layout(binding = 5) readonly buffer RW { float data_rw[]; };
layout(binding = 6) writeonly buffer D { float data_d[]; };
layout(binding = 7) readonly buffer P { uint prm[]; };

shared float sq[BR * DMAX];
shared float sk[BC * DMAX];
shared float sv[BC * DMAX];
shared float ss[BR * BC];

void main() {
    const uint Tq = prm[0], Tk = prm[1], Dq = prm[2], Dv = prm[3];
    const uint flags = prm[36];
    const float scale = uintBitsToFloat(prm[37]);
    const uint kw = prm[35];
    const uint b = gl_WorkGroupID.z, h = gl_WorkGroupID.y;
    const uint q0 = gl_WorkGroupID.x * BR;
    const uint tid = gl_LocalInvocationID.x;
    const uint r = tid / BC, c = tid % BC;
    const uint i = q0 + r;
    const float NEG_INF = -1.0 / 0.0;

    const uint qb = prm[5] + b * prm[6] + h * prm[7];
    const uint kb = prm[10] + b * prm[11] + h * prm[12];
    const uint vb = prm[15] + b * prm[16] + h * prm[17];
    const uint mb = prm[20] + b * prm[21] + h * prm[22] + i * prm[23];
    const uint rhb = prm[25] + b * prm[26] + h * prm[27] + i * prm[28];
    const uint rwb = prm[30] + b * prm[31] + h * prm[32] + i * prm[33];

    for (uint e = tid; e < BR * Dq; e += 256u) {
        uint rr = e / Dq, d = e % Dq;
        sq[rr * DMAX + d] = q0 + rr < Tq ? data_q[qb + (q0 + rr) * prm[8] + d * prm[9]] : 0.0;
    }

    const uint NT = DMAX / BC;   // output columns per thread
    float acc[DMAX / BC];
    for (uint t = 0u; t < NT; t++) acc[t] = 0.0;
    float m = NEG_INF, l = 0.0;

    for (uint k0 = 0u; k0 < Tk; k0 += BC) {
        if ((flags & 2u) != 0u && k0 > q0 + BR - 1u) break;   // causal: the rest is masked for all rows
        barrier();
        for (uint e = tid; e < BC * Dq; e += 256u) {
            uint jj = e / Dq, d = e % Dq;
            sk[jj * DMAX + d] = k0 + jj < Tk ? data_k[kb + (k0 + jj) * prm[13] + d * prm[14]] : 0.0;
        }
        for (uint e = tid; e < BC * Dv; e += 256u) {
            uint jj = e / Dv, d = e % Dv;
            sv[jj * DMAX + d] = k0 + jj < Tk ? data_v[vb + (k0 + jj) * prm[18] + d * prm[19]] : 0.0;
        }
        barrier();
        uint j = k0 + c;
        float s = NEG_INF;
        if (i < Tq && j < Tk && !((flags & 2u) != 0u && j > i)) {
            float dot = 0.0;
            for (uint d = 0u; d < Dq; d++) dot = fma(sq[r * DMAX + d], sk[c * DMAX + d], dot);
            s = dot * scale;
            if ((flags & 1u) != 0u) s += data_m[mb + j * prm[24]];
            if ((flags & 4u) != 0u) s += data_rh[rhb + (j / kw) * prm[29]] + data_rw[rwb + (j % kw) * prm[34]];
        }
        ss[r * BC + c] = s;
        barrier();
        float mx = m;
        for (uint cc = 0u; cc < BC; cc++) mx = max(mx, ss[r * BC + cc]);
        float pr = mx == NEG_INF ? 0.0 : exp(s - mx);
        barrier();
        ss[r * BC + c] = pr;
        barrier();
        float alpha = m == NEG_INF ? 0.0 : exp(m - mx);
        float rs = 0.0;
        for (uint cc = 0u; cc < BC; cc++) rs += ss[r * BC + cc];
        l = l * alpha + rs;
        for (uint t = 0u; t < NT; t++) {
            uint col = c + t * BC;
            float a = acc[t] * alpha;
            if (col < Dv)
                for (uint cc = 0u; cc < BC; cc++) a = fma(ss[r * BC + cc], sv[cc * DMAX + col], a);
            acc[t] = a;
        }
        m = mx;
    }
    if (i >= Tq) return;
    float inv = l > 0.0 ? 1.0 / l : 0.0;
    uint db = prm[38] + ((b * prm[4] + h) * Tq + i) * Dv;
    for (uint t = 0u; t < NT; t++) {
        uint col = c + t * BC;
        if (col < Dv) data_d[db + col] = acc[t] * inv;
    }
}
