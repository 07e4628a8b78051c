#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// unary.comp: d = f(a) elementwise over a 4-D view; d contiguous F32.
// op: 0 gelu (erf), 1 gelu (tanh), 2 quick_gelu, 3 relu, 4 silu, 5 sigmoid, 6 step (enum vlm_unary),
//     100 scale: d = scale * a + bias.
// Bindings: 0 a (f32), 1 d. Dispatch: ceil(n / 256) workgroups folded over x/y.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer A { float data_a[]; };
layout(binding = 1) writeonly buffer D { float data_d[]; };
layout(binding = 0) readonly buffer A4 { vec4 data_a4[]; };   // aliases for the vec4 path
layout(binding = 1) writeonly buffer D4 { vec4 data_d4[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_unary (core/vk-ops.c)
    uint ne0, ne1, ne2, ne3;
    uint sa0, sa1, sa2, sa3;
    uint a_off, d_off;
    uint op, n;
    float scale, bias;
    uint vec4_path;                      // 1: a and d contiguous, offsets multiples of 4, n4 = ceil(n / 4) invocations
} p;

// erf with |error| < 1e-7 over all x: Taylor series for |x| < 1 (13 terms, truncation
// < 1e-11), else erfc by the Chebyshev-fitted form of Numerical Recipes' erfcc
// (fractional error < 1.2e-7 of erfc, i.e. < 2e-8 absolute for |x| >= 1).
// ref: Press et al., Numerical Recipes in C, 2nd ed., §6.2 erfcc
float erf_acc(float x) {
    float ax = abs(x);
    if (ax < 1.0) {
        float x2 = x * x;
        float s = 9.422759064650411e-11;
        s = s * x2 - 1.2290555301717928e-09;
        s = s * x2 + 1.480719281587922e-08;
        s = s * x2 - 1.6365844691234924e-07;
        s = s * x2 + 1.6462114365889248e-06;
        s = s * x2 - 1.4925650358406252e-05;
        s = s * x2 + 0.00012055332981789665;
        s = s * x2 - 0.0008548327023450853;
        s = s * x2 + 0.005223977625442188;
        s = s * x2 - 0.026866170645131252;
        s = s * x2 + 0.11283791670955128;
        s = s * x2 - 0.37612638903183754;
        s = s * x2 + 1.1283791670955126;
        return x * s;
    }
    if (ax > 6.0) return sign(x);
    float t = 1.0 / (1.0 + 0.5 * ax);
    float poly = -1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 +
                 t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    float erfc_ = t * exp(-ax * ax + poly);
    return x >= 0.0 ? 1.0 - erfc_ : erfc_ - 1.0;
}

// tanh without overflow for large |u|.
float tanh_safe(float u) {
    float e = exp(-2.0 * abs(u));
    float t = (1.0 - e) / (1.0 + e);
    return u < 0.0 ? -t : t;
}

float sigmoid(float v) { return 1.0 / (1.0 + exp(-v)); }

float apply(float v) {
    switch (p.op) {
    case 0u: return 0.5 * v * (1.0 + erf_acc(v * 0.70710678118654752));
    case 1u: return 0.5 * v * (1.0 + tanh_safe(0.79788456080286536 * (v + 0.044715 * v * v * v)));
    case 2u: return v * sigmoid(1.702 * v);
    case 3u: return max(v, 0.0);
    case 4u: return v * sigmoid(v);
    case 5u: return sigmoid(v);
    case 6u: return v > 0.0 ? 1.0 : 0.0;
    default: return p.scale * v + p.bias;
    }
}

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (p.vec4_path != 0u) {   // 4 consecutive elements per invocation, one vec4 load and store
        uint e = idx * 4u;
        if (e >= p.n) return;
        if (e + 4u <= p.n) {
            vec4 v = data_a4[p.a_off / 4u + idx];
            data_d4[p.d_off / 4u + idx] = vec4(apply(v.x), apply(v.y), apply(v.z), apply(v.w));
        } else {
            for (uint j = e; j < p.n; j++) data_d[p.d_off + j] = apply(data_a[p.a_off + j]);
        }
        return;
    }
    if (idx >= p.n) return;
    uvec4 ii = unflatten4(idx, p.ne1, p.ne2, p.ne3);
    float v = data_a[p.a_off + ii.x * p.sa0 + ii.y * p.sa1 + ii.z * p.sa2 + ii.w * p.sa3];
    data_d[p.d_off + idx] = apply(v);
}
