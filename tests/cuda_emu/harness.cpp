// Runs src/field/render_field.cu on the CPU: each block in turn, its threads as real
// threads meeting at a barrier for __syncthreads(), __shared__ as storage common to the
// block's threads. Proves the kernel's arithmetic and synchronisation without a GPU
// (tests/cuda_kernel_emulated.rs compiles this with the bundle's -D dimensions).
//
//   harness IN OUT    IN: rays, n_weights (i32); origin[3], bound (f64); dirs[rays*3],
//                         depths[SAMPLES] (f64); deltas[SAMPLES], z[Z_DIM],
//                         weights[n_weights] (f32)
//                     OUT: feature_map[FEAT*rays], opacity[rays] (f32)
#include <barrier>
#include <cmath>
#include <math.h>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

struct Dim3 { unsigned x = 0; };
static thread_local Dim3 threadIdx, blockIdx;
static Dim3 blockDim;
static std::barrier<>* block_barrier;

#define __global__
#define __device__
#define __forceinline__ inline
#define __shared__ static
static void __syncthreads() { block_barrier->arrive_and_wait(); }
using std::cos; using std::sin; using std::fabs;
// expf, fmaf, fmaxf, log1pf: the C library's, from <cmath>.

#include "../../src/field/render_field.cu"

template <class T> static std::vector<T> read(FILE* f, size_t n) {
    std::vector<T> v(n);
    if (fread(v.data(), sizeof(T), n, f) != n) { fprintf(stderr, "short input\n"); exit(2); }
    return v;
}

int main(int argc, char** argv) {
    if (argc != 3) { fprintf(stderr, "usage: harness IN OUT\n"); return 2; }
    FILE* in = fopen(argv[1], "rb");
    if (!in) { perror(argv[1]); return 2; }
    auto counts = read<int>(in, 2);
    const int rays = counts[0];
    auto origin = read<double>(in, 4);  // ox, oy, oz, bound
    auto dirs = read<double>(in, 3 * rays);
    auto depths = read<double>(in, SAMPLES);
    auto deltas = read<float>(in, SAMPLES);
    auto z = read<float>(in, Z_DIM);
    auto weights = read<float>(in, counts[1]);
    fclose(in);

    std::vector<float> feature_map(FEAT * rays), opacity(rays);
    blockDim.x = HIDDEN;
    for (int r = 0; r < rays; ++r) {
        std::barrier<> bar(HIDDEN);
        block_barrier = &bar;
        std::vector<std::thread> threads;
        for (int j = 0; j < HIDDEN; ++j) {
            threads.emplace_back([&, r, j] {
                blockIdx.x = r;
                threadIdx.x = j;
                render_field(weights.data(), z.data(), dirs.data(), origin[0], origin[1],
                             origin[2], depths.data(), deltas.data(), origin[3], rays,
                             feature_map.data(), opacity.data());
            });
        }
        for (auto& t : threads) t.join();
    }
    FILE* out = fopen(argv[2], "wb");
    if (!out) { perror(argv[2]); return 2; }
    fwrite(feature_map.data(), sizeof(float), feature_map.size(), out);
    fwrite(opacity.data(), sizeof(float), opacity.size(), out);
    fclose(out);
    return 0;
}
