#version 450
#extension GL_GOOGLE_include_directive : require
#include "common.glsl"

// interpolate.comp: bilinear resize of [B, C, H, W] (4-D view) to contiguous [B, C, OH, OW],
// align_corners=False, as torch.nn.functional.interpolate(mode="bilinear"):
//   plain:     src = max((o + 0.5) * in / out - 0.5, 0), taps floor(src) and +1 (clamped)
//   antialias: separable triangle filter, support = max(scale, 1), weights normalized
//              (torch's _upsample_bilinear2d_aa)
// ref: pytorch aten/src/ATen/native/UpSample.h area_pixel_compute_source_index,
//      aten/src/ATen/native/cpu/UpSampleKernel.cpp HelperInterpLinear::aa_filter / _compute_indices_weights_aa
// Bindings: 0 a, 1 d. Dispatch: ceil(n / 256) workgroups folded over x/y.
layout(local_size_x = 256) in;

layout(binding = 0) readonly buffer A { float data_a[]; };
layout(binding = 1) writeonly buffer D { float data_d[]; };

layout(push_constant) uniform Params {   // mirrors struct pc_interp (core/vk-ops.c)
    uint C, H, W, OH, OW;
    uint s0, s1, s2, s3, a_off, d_off, n, antialias;
    float scale_h, scale_w;   // in / out
} p;

// One axis of the antialiased filter: first tap, tap count, weights computed on the fly.
void aa_axis(float scale, uint o, uint in_size, out int lo, out int cnt, out float center, out float inv_scale, out float total) {
    float support = scale >= 1.0 ? scale : 1.0;
    center = scale * (float(o) + 0.5);
    inv_scale = scale >= 1.0 ? 1.0 / scale : 1.0;
    lo = max(int(center - support + 0.5), 0);
    int hi = min(int(center + support + 0.5), int(in_size));
    cnt = hi - lo;
    total = 0.0;
    for (int j = 0; j < cnt; j++) {
        float w = 1.0 - abs((float(j + lo) - center + 0.5) * inv_scale);
        total += max(w, 0.0);
    }
}

void main() {
    uint idx = flat_group() * 256u + gl_LocalInvocationID.x;
    if (idx >= p.n) return;
    uvec4 ii = unflatten4(idx, p.C, p.OH, p.OW);
    uint z = ii.x, c = ii.y, oy = ii.z, ox = ii.w;
    uint base = p.a_off + z * p.s0 + c * p.s1;
    float r = 0.0;
    if (p.antialias != 0u) {
        int ylo, ycnt, xlo, xcnt;
        float yc, yinv, ytot, xc, xinv, xtot;
        aa_axis(p.scale_h, oy, p.H, ylo, ycnt, yc, yinv, ytot);
        aa_axis(p.scale_w, ox, p.W, xlo, xcnt, xc, xinv, xtot);
        for (int jy = 0; jy < ycnt; jy++) {
            float wy = max(1.0 - abs((float(jy + ylo) - yc + 0.5) * yinv), 0.0);
            if (ytot != 0.0) wy /= ytot;
            float row = 0.0;
            for (int jx = 0; jx < xcnt; jx++) {
                float wx = max(1.0 - abs((float(jx + xlo) - xc + 0.5) * xinv), 0.0);
                if (xtot != 0.0) wx /= xtot;
                row += wx * data_a[base + uint(jy + ylo) * p.s2 + uint(jx + xlo) * p.s3];
            }
            r += wy * row;
        }
    } else {
        float sy = max(p.scale_h * (float(oy) + 0.5) - 0.5, 0.0);
        float sx = max(p.scale_w * (float(ox) + 0.5) - 0.5, 0.0);
        uint y0 = min(uint(sy), p.H - 1u), x0 = min(uint(sx), p.W - 1u);
        uint y1 = y0 + (y0 < p.H - 1u ? 1u : 0u), x1 = x0 + (x0 < p.W - 1u ? 1u : 0u);
        float ly = sy - float(y0), lx = sx - float(x0);
        float a00 = data_a[base + y0 * p.s2 + x0 * p.s3], a01 = data_a[base + y0 * p.s2 + x1 * p.s3];
        float a10 = data_a[base + y1 * p.s2 + x0 * p.s3], a11 = data_a[base + y1 * p.s2 + x1 * p.s3];
        r = (1.0 - ly) * ((1.0 - lx) * a00 + lx * a01) + ly * ((1.0 - lx) * a10 + lx * a11);
    }
    data_d[p.d_off + idx] = r;
}
