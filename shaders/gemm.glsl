// gemm.glsl — the tiled fp32 GEMM core shared by matmul.comp and conv2d.comp:
// D[m, n] = sum_k A[m, k] * B[k, n] for one output tile of BM x BN per workgroup, with
// BK-deep slices of A and B staged in shared memory (read as vec4) and (4 TMV) x (4 TNV)
// outputs per thread.
// The includer declares, before including this file:
//   push block p with uint M, N, K, a_kcontig, b_ncontig
//   uint  a_row(uint m)               base of row m of A (called once per load slot)
//   float a_load(uint base, uint k)
//   uint  b_col(uint n)               base of column n of B
//   float b_load(uint base, uint k)
//   void  d_store(uint m, uint n, float v)
// Dispatch: (ceil(N / BN), ceil(M / BM), batch).
layout(local_size_x_id = 0) in;                 // spec 0: (BM / (4 TMV)) * (BN / (4 TNV))
layout(constant_id = 1) const uint BM = 64;     // spec 1..3: tile sizes (BM, BN multiples of 4)
layout(constant_id = 2) const uint BN = 64;
layout(constant_id = 3) const uint BK = 16;
layout(constant_id = 4) const uint TMV = 2;     // spec 4, 5: vec4s per thread along M and N
layout(constant_id = 5) const uint TNV = 2;

#define GEMM_MAX_S 8   // (BM / 4 * BK) / WG and (BN / 4 * BK) / WG must be <= this
#define GEMM_MAX_V 4   // TMV, TNV <= this

// [BK][BM] and [BK][BN] as vec4: each thread reads its 4 rows / 4 columns in one load
shared vec4 gemm_sa[BK * BM / 4];
shared vec4 gemm_sb[BK * BN / 4];

void gemm_main() {
    const uint WG = (BM / (4u * TMV)) * (BN / (4u * TNV));
    // load slots: one vec4 of the shared tile (4 rows of A or 4 columns of B at one k)
    const uint SA = (BM / 4u * BK + WG - 1u) / WG;
    const uint SB = (BN / 4u * BK + WG - 1u) / WG;
    uint tid = gl_LocalInvocationID.x;
    uint m0 = gl_WorkGroupID.y * BM;
    uint n0 = gl_WorkGroupID.x * BN;

    uint a_base[GEMM_MAX_S * 4u], a_kk[GEMM_MAX_S], a_sidx[GEMM_MAX_S];
    bool a_in[GEMM_MAX_S];
    for (uint l = 0u; l < SA; l++) {
        uint e = tid + l * WG;
        uint kk, m4;
        if (p.a_kcontig != 0u) { kk = e % BK; m4 = e / BK; }
        else                   { m4 = e % (BM / 4u); kk = e / (BM / 4u); }
        a_in[l] = e < BM / 4u * BK;
        a_kk[l] = kk;
        a_sidx[l] = kk * (BM / 4u) + m4;
        for (uint c = 0u; c < 4u; c++) {
            uint m = m0 + m4 * 4u + c;
            a_base[l * 4u + c] = a_in[l] && m < p.M ? a_row(m) : 0xffffffffu;
        }
    }
    uint b_base[GEMM_MAX_S * 4u], b_kk[GEMM_MAX_S], b_sidx[GEMM_MAX_S];
    bool b_in[GEMM_MAX_S];
    for (uint l = 0u; l < SB; l++) {
        uint e = tid + l * WG;
        uint kk, n4;
        if (p.b_ncontig != 0u) { n4 = e % (BN / 4u); kk = e / (BN / 4u); }
        else                   { kk = e % BK; n4 = e / BK; }
        b_in[l] = e < BN / 4u * BK;
        b_kk[l] = kk;
        b_sidx[l] = kk * (BN / 4u) + n4;
        for (uint c = 0u; c < 4u; c++) {
            uint n = n0 + n4 * 4u + c;
            b_base[l * 4u + c] = b_in[l] && n < p.N ? b_col(n) : 0xffffffffu;
        }
    }

    // thread (tm, tn) owns rows m0 + 4 (tm TMV + v) + c and columns n0 + 4 (tn TNV + w) + j
    vec4 acc[GEMM_MAX_V * 4u][GEMM_MAX_V];
    for (uint i = 0u; i < 4u * TMV; i++)
        for (uint w = 0u; w < TNV; w++) acc[i][w] = vec4(0.0);
    uint tm = tid / (BN / (4u * TNV));
    uint tn = tid % (BN / (4u * TNV));

    for (uint k0 = 0u; k0 < p.K; k0 += BK) {
        for (uint l = 0u; l < SA; l++) {
            if (!a_in[l]) continue;
            uint k = k0 + a_kk[l];
            vec4 v;
            for (uint c = 0u; c < 4u; c++) v[c] = (a_base[l * 4u + c] != 0xffffffffu && k < p.K) ? a_load(a_base[l * 4u + c], k) : 0.0;
            gemm_sa[a_sidx[l]] = v;
        }
        for (uint l = 0u; l < SB; l++) {
            if (!b_in[l]) continue;
            uint k = k0 + b_kk[l];
            vec4 v;
            for (uint c = 0u; c < 4u; c++) v[c] = (b_base[l * 4u + c] != 0xffffffffu && k < p.K) ? b_load(b_base[l * 4u + c], k) : 0.0;
            gemm_sb[b_sidx[l]] = v;
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk++) {
            vec4 av[GEMM_MAX_V], bv[GEMM_MAX_V];
            for (uint v = 0u; v < TMV; v++) av[v] = gemm_sa[kk * (BM / 4u) + tm * TMV + v];
            for (uint w = 0u; w < TNV; w++) bv[w] = gemm_sb[kk * (BN / 4u) + tn * TNV + w];
            for (uint v = 0u; v < TMV; v++)
                for (uint c = 0u; c < 4u; c++)
                    for (uint w = 0u; w < TNV; w++) acc[v * 4u + c][w] = fma(vec4(av[v][c]), bv[w], acc[v * 4u + c][w]);
        }
        barrier();
    }
    for (uint i = 0u; i < 4u * TMV; i++) {
        uint m = m0 + tm * 4u * TMV + i;
        if (m >= p.M) continue;
        for (uint w = 0u; w < TNV; w++)
            for (uint j = 0u; j < 4u; j++) {
                uint n = n0 + (tn * TNV + w) * 4u + j;
                if (n < p.N) d_store(m, n, acc[i][w][j]);
            }
    }
}
