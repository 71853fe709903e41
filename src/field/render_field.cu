// The feature field rendered for one view, in one kernel: encoding, MLP, compositing.
//
// Compiled at start-up by NVRTC for the device's architecture (src/field/cuda.rs), with
// the bundle's dimensions as -D defines: HIDDEN, Z_DIM, POINT_FREQS, DIR_FREQS, LAYERS,
// SKIP_LAYER, FEAT, SAMPLES. Same formulas as the CPU path (src/field/rays.rs,
// field.onnx, src/field/render.rs) and the reference (tools/imphmr_ref):
//
//   p = o + t_k d;  samples outside the box |p|∞ > bound have σ = 0 and are skipped
//   γ(x) = [sin(2^f π x), cos(2^f π x)] per frequency f, blocks of three, in double
//   h = relu(fc_in(γ(p/bound)) + fc_z(z)); LAYERS-1 blocks relu(W h + b), with
//       fc_z_skip(z) + fc_p_skip(γ) added after layer SKIP_LAYER
//   σ = softplus(sigma_out(h));  f = feat_out(relu(feat_view(h) + fc_z_view(z) + fc_view(γ(d))))
//   α = 1 − exp(−σ δ_k), w = α T, T ← T (1 − α);  F = Σ w f, A = Σ w
//
// One block per ray, one thread per hidden unit (blockDim.x == HIDDEN, FEAT <= HIDDEN).
// Samples of a ray are taken front to back, so compositing needs no second pass.
// Weights (src/field/weights.rs): every layer as W[in][out] then b[out], in the order
// below; a warp's threads read consecutive outputs of one input row.

#if !defined(HIDDEN) || !defined(Z_DIM) || !defined(POINT_FREQS) || !defined(DIR_FREQS) || \
    !defined(LAYERS) || !defined(SKIP_LAYER) || !defined(FEAT) || !defined(SAMPLES)
#error "compile with the bundle's dimensions as -D defines (src/field/cuda.rs)"
#endif

#define PE (6 * POINT_FREQS)
#define DE (6 * DIR_FREQS)
#define PI_D 3.141592653589793

// One output unit `o` of a linear layer with `ins` inputs and `outs` outputs.
__device__ __forceinline__ float unit(const float* w, int ins, int outs, int o, const float* x) {
    float acc = 0.0f;
    for (int i = 0; i < ins; ++i) acc = fmaf(w[i * outs + o], x[i], acc);
    return w[ins * outs + o] + acc;
}

// Size of a packed layer: W[in][out] and b[out].
__device__ __forceinline__ int layer_size(int ins, int outs) { return ins * outs + outs; }

// Entry e of γ(x), with L frequencies: frequency e / 6, sin for e % 6 < 3 else cos.
__device__ __forceinline__ float encode(const double x[3], int e) {
    int f = e / 6, r = e % 6;
    double v = (double)(1ll << f) * PI_D * x[r % 3];
    return (float)(r < 3 ? sin(v) : cos(v));
}

extern "C" __global__ void render_field(
    const float* __restrict__ weights,  // packed, src/field/weights.rs
    const float* __restrict__ z,        // Z_DIM
    const double* __restrict__ dirs,    // rays × 3, unit directions
    double ox, double oy, double oz,    // camera origin
    const double* __restrict__ depths,  // SAMPLES
    const float* __restrict__ deltas,   // SAMPLES
    double bound,
    int rays,
    float* __restrict__ feature_map,    // FEAT × rays, channel-major
    float* __restrict__ opacity)        // rays
{
    const int r = blockIdx.x;
    const int j = threadIdx.x;
    if (r >= rays) return;  // uniform across the block

    const float* fc_in = weights;
    const float* fc_z = fc_in + layer_size(PE, HIDDEN);
    const float* blocks = fc_z + layer_size(Z_DIM, HIDDEN);
    const float* fc_z_skip = blocks + (LAYERS - 1) * layer_size(HIDDEN, HIDDEN);
    const float* fc_p_skip = fc_z_skip + layer_size(Z_DIM, HIDDEN);
    const float* sigma_out = fc_p_skip + layer_size(PE, HIDDEN);
    const float* feat_view = sigma_out + layer_size(HIDDEN, 1);
    const float* fc_z_view = feat_view + layer_size(HIDDEN, HIDDEN);
    const float* fc_view = fc_z_view + layer_size(Z_DIM, HIDDEN);
    const float* feat_out = fc_view + layer_size(DE, HIDDEN);

    __shared__ float zs[Z_DIM];
    __shared__ float enc_p[PE];
    __shared__ float enc_d[DE];
    __shared__ float h[HIDDEN];
    __shared__ float sigma;

    for (int i = j; i < Z_DIM; i += blockDim.x) zs[i] = z[i];
    const double d[3] = {dirs[3 * r], dirs[3 * r + 1], dirs[3 * r + 2]};
    for (int e = j; e < DE; e += blockDim.x) enc_d[e] = encode(d, e);
    __syncthreads();

    // Constant along the ray: the z parts and the direction part.
    const float z_in = unit(fc_z, Z_DIM, HIDDEN, j, zs);
    const float z_skip = unit(fc_z_skip, Z_DIM, HIDDEN, j, zs);
    const float z_view = unit(fc_z_view, Z_DIM, HIDDEN, j, zs);
    const float d_view = unit(fc_view, DE, HIDDEN, j, enc_d);

    float transmittance = 1.0f, acc = 0.0f, total = 0.0f;
    for (int k = 0; k < SAMPLES; ++k) {
        const double t = depths[k];
        const double p[3] = {ox + d[0] * t, oy + d[1] * t, oz + d[2] * t};
        if (fabs(p[0]) > bound || fabs(p[1]) > bound || fabs(p[2]) > bound) continue;
        const double pn[3] = {p[0] / bound, p[1] / bound, p[2] / bound};
        for (int e = j; e < PE; e += blockDim.x) enc_p[e] = encode(pn, e);
        __syncthreads();

        float v = fmaxf(unit(fc_in, PE, HIDDEN, j, enc_p) + z_in, 0.0f);
        for (int l = 0; l < LAYERS - 1; ++l) {
            __syncthreads();  // every thread is done reading h
            h[j] = v;
            __syncthreads();
            v = fmaxf(unit(blocks + l * layer_size(HIDDEN, HIDDEN), HIDDEN, HIDDEN, j, h), 0.0f);
            if (l + 2 == SKIP_LAYER) v = v + z_skip + unit(fc_p_skip, PE, HIDDEN, j, enc_p);
        }
        __syncthreads();
        h[j] = v;
        __syncthreads();
        if (j == 0) {
            const float s = unit(sigma_out, HIDDEN, 1, 0, h);
            sigma = s > 20.0f ? s : log1pf(expf(s));
        }
        const float hv = fmaxf(unit(feat_view, HIDDEN, HIDDEN, j, h) + z_view + d_view, 0.0f);
        __syncthreads();  // sigma written, h read
        h[j] = hv;
        __syncthreads();

        const float alpha = 1.0f - expf(-sigma * deltas[k]);
        const float w = alpha * transmittance;
        transmittance *= 1.0f - alpha;
        total += w;
        if (j < FEAT) acc += w * unit(feat_out, HIDDEN, FEAT, j, h);
        __syncthreads();  // before enc_p and h are overwritten
    }
    if (j < FEAT) feature_map[j * rays + r] = acc;
    if (j == 0) opacity[r] = total;
}
