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
layout(constant_id = 4) const uint TMV = 2;     // spec 4, 5: vec4s per thread along M and N (1 or 2)
layout(constant_id = 5) const uint TNV = 2;

#define GEMM_MAX_L 16  // (BM * BK) / WG and (BN * BK) / WG must be <= this

// [BK][BM] and [BK][BN] as vec4: each thread reads its 4 rows / 4 columns in one load
shared vec4 gemm_sa[BK * BM / 4];
shared vec4 gemm_sb[BK * BN / 4];

void gemm_main() {
    const uint WG = (BM / (4u * TMV)) * (BN / (4u * TNV));
    const uint LA = (BM * BK + WG - 1u) / WG;
    const uint LB = (BN * BK + WG - 1u) / WG;
    uint tid = gl_LocalInvocationID.x;
    uint m0 = gl_WorkGroupID.y * BM;
    uint n0 = gl_WorkGroupID.x * BN;

    // per-thread load slots: fixed (row, k) positions inside the tile
    uint a_base[GEMM_MAX_L], a_kk[GEMM_MAX_L], a_sidx[GEMM_MAX_L];
    bool a_ok[GEMM_MAX_L], a_in[GEMM_MAX_L];
    for (uint l = 0u; l < LA; l++) {
        uint e = tid + l * WG;
        uint kk, mm;
        if (p.a_kcontig != 0u) { kk = e % BK; mm = e / BK; }
        else                   { mm = e % BM; kk = e / BM; }
        a_in[l] = e < BM * BK;
        a_ok[l] = a_in[l] && m0 + mm < p.M;
        a_base[l] = a_ok[l] ? a_row(m0 + mm) : 0u;
        a_kk[l] = kk;
        a_sidx[l] = kk * BM + mm;
    }
    uint b_base[GEMM_MAX_L], b_kk[GEMM_MAX_L], b_sidx[GEMM_MAX_L];
    bool b_ok[GEMM_MAX_L], b_in[GEMM_MAX_L];
    for (uint l = 0u; l < LB; l++) {
        uint e = tid + l * WG;
        uint kk, nn;
        if (p.b_ncontig != 0u) { nn = e % BN; kk = e / BN; }
        else                   { kk = e % BK; nn = e / BK; }
        b_in[l] = e < BN * BK;
        b_ok[l] = b_in[l] && n0 + nn < p.N;
        b_base[l] = b_ok[l] ? b_col(n0 + nn) : 0u;
        b_kk[l] = kk;
        b_sidx[l] = kk * BN + nn;
    }

    // thread (tm, tn) owns rows m0 + 4 (tm TMV + v) + c and columns n0 + 4 (tn TNV + w) + j
    vec4 acc[8][2];
    for (uint i = 0u; i < 4u * TMV; i++)
        for (uint w = 0u; w < TNV; w++) acc[i][w] = vec4(0.0);
    uint tm = tid / (BN / (4u * TNV));
    uint tn = tid % (BN / (4u * TNV));

    for (uint k0 = 0u; k0 < p.K; k0 += BK) {
        for (uint l = 0u; l < LA; l++) {
            if (!a_in[l]) continue;
            uint k = k0 + a_kk[l];
            gemm_sa[a_sidx[l] >> 2u][a_sidx[l] & 3u] = (a_ok[l] && k < p.K) ? a_load(a_base[l], k) : 0.0;
        }
        for (uint l = 0u; l < LB; l++) {
            if (!b_in[l]) continue;
            uint k = k0 + b_kk[l];
            gemm_sb[b_sidx[l] >> 2u][b_sidx[l] & 3u] = (b_ok[l] && k < p.K) ? b_load(b_base[l], k) : 0.0;
        }
        barrier();
        for (uint kk = 0u; kk < BK; kk++) {
            vec4 av[2], bv[2];
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
