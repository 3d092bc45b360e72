// The time loop of the built-in gated cells (RNN, GRU, LSTM and its peephole / CIFG / no-forget
// variants) in one call: forward over all T steps, and its backward, K members at once.
//
// Shapes (K members, each with its own weights; B samples; H units; G gate blocks of H):
//   xp    (T, K, B, G·H)  W_ih x_t + b_ih for every step, computed before the loop (one GEMM)
//   h0    (K, B, H)       c0 likewise for the LSTM
//   w_hh  (K, G·H, H)     b_hh (K, G·H); peephole (K, P, H) with P rows p_i, (p_f,) p_o
// Per step: one batched GEMM hp = h W_hhᵀ + b_hh, then one pass over (K, B, H) computing every
// gate of a unit together. The backward walks the steps in reverse with one GEMM per step for
// ∂L/∂h_{t−1}; the weights' gradients are one GEMM over all steps at the end. The equations are
// the cells' Python forwards (rnnbench/models/{rnn,gru,lstm,lstm_variants}.py), which stay the
// definition: tests/test_kernels.py holds this file equal to them in float64.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <cmath>
#include <vector>

namespace {

using at::Tensor;
template <typename T> using Vec = at::vec::Vectorized<T>;

// The forward passes run their transcendental functions on vectors of units (ATen's SLEEF-backed
// Vectorized, AVX2 where the build enables it): per unit they cost more than everything else of a
// small step. `each(H, f)` calls f(j, n) on chunks of n ≤ Vec::size() units.
template <typename T, typename F> inline void each(int64_t H, F f) {
  constexpr int64_t V = Vec<T>::size();
  int64_t j = 0;
  for (; j + V <= H; j += V) f(j, V);
  if (j < H) f(j, H - j);
}

template <typename T> inline Vec<T> load(const T* p, int64_t n) {
  return n == Vec<T>::size() ? Vec<T>::loadu(p) : Vec<T>::loadu(p, n);
}

template <typename T> inline Vec<T> sigmoid(Vec<T> x) { return (Vec<T>(1) + x.neg().exp()).reciprocal(); }

// rows = K·B; each row is one sample of one member, H units
constexpr int64_t GRAIN = 16;

Tensor hidden_gemm(const Tensor& h, const Tensor& w_hh, const Tensor& b_hh) {
  // (K, B, H) @ (K, H, G·H) + b_hh → (K, B, G·H)
  return at::baddbmm(b_hh.unsqueeze(1), h, w_hh.transpose(1, 2));
}

Tensor weight_grads(const Tensor& dhp, const Tensor& hs_prev) {
  // Σ_t dhp_tᵀ h_{t−1}: dhp (T, K, B, G·H), hs_prev (T, K, B, H) → (K, G·H, H)
  auto K = dhp.size(1);
  auto a = dhp.permute({1, 3, 0, 2}).reshape({K, dhp.size(3), -1});
  auto b = hs_prev.permute({1, 0, 2, 3}).reshape({K, -1, hs_prev.size(3)});
  return at::bmm(a, b);
}

// ---------------------------------------------------------------- RNN: h = act(xp + hp)
std::vector<Tensor> rnn_forward(Tensor xp, Tensor h0, Tensor w_hh, Tensor b_hh, bool relu) {
  auto T = xp.size(0), K = xp.size(1), B = xp.size(2), H = h0.size(2);
  auto hs = at::empty({T + 1, K, B, H}, h0.options());
  hs[0].copy_(h0);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnn_forward", [&] {
    for (int64_t t = 0; t < T; ++t) {
      auto hp = hidden_gemm(hs[t], w_hh, b_hh);
      auto x = xp[t].data_ptr<scalar_t>(), p = hp.data_ptr<scalar_t>(), out = hs[t + 1].data_ptr<scalar_t>();
      at::parallel_for(0, K * B, GRAIN, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          each<scalar_t>(H, [&](int64_t j, int64_t n) {
            auto a = load(x + row * H + j, n) + load(p + row * H + j, n);
            (relu ? at::vec::maximum(a, Vec<scalar_t>(0)) : a.tanh()).store(out + row * H + j, n);
          });
        }
      });
    }
  });
  return {hs};
}

std::vector<Tensor> rnn_backward(Tensor dhs, Tensor dh_last, Tensor hs, Tensor w_hh, bool relu) {
  auto T = dhs.size(0), K = dhs.size(1), B = dhs.size(2), H = dhs.size(3);
  auto da = at::empty({T, K, B, H}, dhs.options());
  auto dh = dh_last.clone();
  AT_DISPATCH_FLOATING_TYPES(dhs.scalar_type(), "rnn_backward", [&] {
    for (int64_t t = T - 1; t >= 0; --t) {
      auto g = dhs[t].data_ptr<scalar_t>(), y = hs[t + 1].data_ptr<scalar_t>();
      auto d = dh.data_ptr<scalar_t>(), out = da[t].data_ptr<scalar_t>();
      at::parallel_for(0, K * B * H, GRAIN * H, [&](int64_t begin, int64_t end) {
        for (int64_t i = begin; i < end; ++i) {
          scalar_t total = d[i] + g[i];
          out[i] = relu ? (y[i] > 0 ? total : scalar_t(0)) : total * (scalar_t(1) - y[i] * y[i]);
        }
      });
      dh = at::bmm(da[t], w_hh);
    }
  });
  auto hs_prev = hs.narrow(0, 0, T);
  return {da, dh, weight_grads(da, hs_prev), da.sum({0, 2})};
}

// ---------------------------------------------------------------- GRU (torch's form, gates r, z, n)
//   r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r ⊙ h_n), h' = (1 − z) ⊙ n + z ⊙ h
std::vector<Tensor> gru_forward(Tensor xp, Tensor h0, Tensor w_hh, Tensor b_hh) {
  auto T = xp.size(0), K = xp.size(1), B = xp.size(2), H = h0.size(2);
  auto hs = at::empty({T + 1, K, B, H}, h0.options());
  auto saved = at::empty({T, K, B, 4 * H}, h0.options());  // r, z, n, h_n
  hs[0].copy_(h0);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_forward", [&] {
    for (int64_t t = 0; t < T; ++t) {
      auto hp = hidden_gemm(hs[t], w_hh, b_hh);
      auto x = xp[t].data_ptr<scalar_t>(), p = hp.data_ptr<scalar_t>();
      auto h = hs[t].data_ptr<scalar_t>(), out = hs[t + 1].data_ptr<scalar_t>(), s = saved[t].data_ptr<scalar_t>();
      at::parallel_for(0, K * B, GRAIN, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          auto xr = x + row * 3 * H, pr = p + row * 3 * H, sr = s + row * 4 * H;
          each<scalar_t>(H, [&](int64_t j, int64_t m) {
            auto r = sigmoid(load(xr + j, m) + load(pr + j, m));
            auto z = sigmoid(load(xr + H + j, m) + load(pr + H + j, m));
            auto hn = load(pr + 2 * H + j, m);
            auto n = (load(xr + 2 * H + j, m) + r * hn).tanh();
            (n + z * (load(h + row * H + j, m) - n)).store(out + row * H + j, m);
            r.store(sr + j, m), z.store(sr + H + j, m), n.store(sr + 2 * H + j, m), hn.store(sr + 3 * H + j, m);
          });
        }
      });
    }
  });
  return {hs, saved};
}

std::vector<Tensor> gru_backward(Tensor dhs, Tensor dh_last, Tensor hs, Tensor saved, Tensor w_hh) {
  auto T = dhs.size(0), K = dhs.size(1), B = dhs.size(2), H = dhs.size(3);
  auto dxp = at::empty({T, K, B, 3 * H}, dhs.options());
  auto dhp = at::empty({T, K, B, 3 * H}, dhs.options());
  auto dh = dh_last.clone();
  auto direct = at::empty({K, B, H}, dhs.options());
  AT_DISPATCH_FLOATING_TYPES(dhs.scalar_type(), "gru_backward", [&] {
    for (int64_t t = T - 1; t >= 0; --t) {
      auto g = dhs[t].data_ptr<scalar_t>(), h = hs[t].data_ptr<scalar_t>(), s = saved[t].data_ptr<scalar_t>();
      auto d = dh.data_ptr<scalar_t>(), dx = dxp[t].data_ptr<scalar_t>(), dp = dhp[t].data_ptr<scalar_t>();
      auto dd = direct.data_ptr<scalar_t>();
      at::parallel_for(0, K * B, GRAIN, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          auto sr = s + row * 4 * H, dxr = dx + row * 3 * H, dpr = dp + row * 3 * H;
          for (int64_t j = 0; j < H; ++j) {
            scalar_t r = sr[j], z = sr[H + j], n = sr[2 * H + j], hn = sr[3 * H + j];
            scalar_t total = d[row * H + j] + g[row * H + j];
            scalar_t da_n = total * (scalar_t(1) - z) * (scalar_t(1) - n * n);
            scalar_t da_z = total * (h[row * H + j] - n) * z * (scalar_t(1) - z);
            scalar_t da_r = da_n * hn * r * (scalar_t(1) - r);
            dxr[j] = da_r, dxr[H + j] = da_z, dxr[2 * H + j] = da_n;
            dpr[j] = da_r, dpr[H + j] = da_z, dpr[2 * H + j] = da_n * r;
            dd[row * H + j] = total * z;
          }
        }
      });
      dh = at::baddbmm(direct, dhp[t], w_hh);
    }
  });
  auto hs_prev = hs.narrow(0, 0, T);
  return {dxp, dh, weight_grads(dhp, hs_prev), dhp.sum({0, 2})};
}

// ---------------------------------------------------------------- LSTM and its variants
//   gates i, (f,) g, o;  peephole: a_i += p_i c_{t−1}, a_f += p_f c_{t−1}, a_o += p_o c_t
//   f = σ(a_f), or 1 − i (cifg), or 1 (no forget gate);  c' = f c + i tanh(g);  h' = σ(a_o) tanh(c')
struct LstmFlags {
  bool forget, cifg, peephole;
};

std::vector<Tensor> lstm_forward(Tensor xp, Tensor h0, Tensor c0, Tensor w_hh, Tensor b_hh, Tensor peephole,
                                 bool cifg, bool no_forget) {
  LstmFlags flags{!(cifg || no_forget), cifg, peephole.numel() > 0};
  int64_t G = flags.forget ? 4 : 3;
  auto T = xp.size(0), K = xp.size(1), B = xp.size(2), H = h0.size(2);
  auto hs = at::empty({T + 1, K, B, H}, h0.options());
  auto cs = at::empty({T + 1, K, B, H}, h0.options());
  auto saved = at::empty({T, K, B, 5 * H}, h0.options());  // i, f, tanh g, o, tanh c_t
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "lstm_forward", [&] {
    const scalar_t* pp = flags.peephole ? peephole.data_ptr<scalar_t>() : nullptr;
    int64_t P = flags.peephole ? peephole.size(1) : 0;
    for (int64_t t = 0; t < T; ++t) {
      auto hp = hidden_gemm(hs[t], w_hh, b_hh);
      auto x = xp[t].data_ptr<scalar_t>(), p = hp.data_ptr<scalar_t>();
      auto c = cs[t].data_ptr<scalar_t>(), c_out = cs[t + 1].data_ptr<scalar_t>();
      auto out = hs[t + 1].data_ptr<scalar_t>(), s = saved[t].data_ptr<scalar_t>();
      at::parallel_for(0, K * B, GRAIN, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          using V = Vec<scalar_t>;
          auto xr = x + row * G * H, pr = p + row * G * H, sr = s + row * 5 * H;
          const scalar_t* peep = pp ? pp + (row / B) * P * H : nullptr;
          int64_t go = flags.forget ? 3 : 2, gg = flags.forget ? 2 : 1;
          each<scalar_t>(H, [&](int64_t j, int64_t m) {
            auto gate = [&](int64_t k) { return load(xr + k * H + j, m) + load(pr + k * H + j, m); };
            auto c_prev = load(c + row * H + j, m);
            auto a_i = gate(0);
            if (peep) a_i = a_i + load(peep + j, m) * c_prev;
            auto i = sigmoid(a_i);
            V f(1);
            if (flags.forget) {
              auto a_f = gate(1);
              if (peep) a_f = a_f + load(peep + H + j, m) * c_prev;
              f = sigmoid(a_f);
            } else if (flags.cifg) {
              f = V(1) - i;
            }
            auto g = gate(gg).tanh();
            auto c_new = f * c_prev + i * g;
            auto a_o = gate(go);
            if (peep) a_o = a_o + load(peep + (P - 1) * H + j, m) * c_new;
            auto o = sigmoid(a_o);
            auto tc = c_new.tanh();
            c_new.store(c_out + row * H + j, m);
            (o * tc).store(out + row * H + j, m);
            i.store(sr + j, m), f.store(sr + H + j, m), g.store(sr + 2 * H + j, m), o.store(sr + 3 * H + j, m);
            tc.store(sr + 4 * H + j, m);
          });
        }
      });
    }
  });
  return {hs, cs, saved};
}

std::vector<Tensor> lstm_backward(Tensor dhs, Tensor dh_last, Tensor dc_last, Tensor hs, Tensor cs, Tensor saved,
                                  Tensor w_hh, Tensor peephole, bool cifg, bool no_forget) {
  LstmFlags flags{!(cifg || no_forget), cifg, peephole.numel() > 0};
  int64_t G = flags.forget ? 4 : 3;
  auto T = dhs.size(0), K = dhs.size(1), B = dhs.size(2), H = dhs.size(3);
  auto da = at::empty({T, K, B, G * H}, dhs.options());
  auto dpeep_rows = at::zeros({K, B, flags.peephole ? peephole.size(1) : 0, H}, dhs.options());
  auto dh = dh_last.clone();
  auto dc = dc_last.clone();
  AT_DISPATCH_FLOATING_TYPES(dhs.scalar_type(), "lstm_backward", [&] {
    const scalar_t* pp = flags.peephole ? peephole.data_ptr<scalar_t>() : nullptr;
    int64_t P = flags.peephole ? peephole.size(1) : 0;
    for (int64_t t = T - 1; t >= 0; --t) {
      auto g_out = dhs[t].data_ptr<scalar_t>(), s = saved[t].data_ptr<scalar_t>();
      auto c_prev_p = cs[t].data_ptr<scalar_t>(), c_new_p = cs[t + 1].data_ptr<scalar_t>();
      auto d = dh.data_ptr<scalar_t>(), dcp = dc.data_ptr<scalar_t>(), out = da[t].data_ptr<scalar_t>();
      auto dpeep = flags.peephole ? dpeep_rows.data_ptr<scalar_t>() : nullptr;
      at::parallel_for(0, K * B, GRAIN, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; ++row) {
          auto sr = s + row * 5 * H, dr = out + row * G * H;
          const scalar_t* peep = pp ? pp + (row / B) * P * H : nullptr;
          scalar_t* dpr = dpeep ? dpeep + row * P * H : nullptr;
          int64_t go = flags.forget ? 3 : 2, gg = flags.forget ? 2 : 1;
          for (int64_t j = 0; j < H; ++j) {
            scalar_t i = sr[j], f = sr[H + j], g = sr[2 * H + j], o = sr[3 * H + j];
            scalar_t c_prev = c_prev_p[row * H + j], c_new = c_new_p[row * H + j], tc = sr[4 * H + j];
            scalar_t dh_t = d[row * H + j] + g_out[row * H + j];
            scalar_t da_o = dh_t * tc * o * (scalar_t(1) - o);
            scalar_t dc_t = dcp[row * H + j] + dh_t * o * (scalar_t(1) - tc * tc);
            if (peep) {
              dc_t += da_o * peep[(P - 1) * H + j];
              dpr[(P - 1) * H + j] += da_o * c_new;
            }
            scalar_t di = dc_t * g, df = dc_t * c_prev;
            scalar_t dc_prev = dc_t * f;
            scalar_t da_g = dc_t * i * (scalar_t(1) - g * g);
            if (flags.cifg) di -= df;  // f = 1 − i
            scalar_t da_i = di * i * (scalar_t(1) - i);
            dr[j] = da_i, dr[gg * H + j] = da_g, dr[go * H + j] = da_o;
            if (flags.forget) {
              scalar_t da_f = df * f * (scalar_t(1) - f);
              dr[H + j] = da_f;
              if (peep) {
                dc_prev += da_f * peep[H + j];
                dpr[H + j] += da_f * c_prev;
              }
            }
            if (peep) {
              dc_prev += da_i * peep[j];
              dpr[j] += da_i * c_prev;
            }
            dcp[row * H + j] = dc_prev;
          }
        }
      });
      dh = at::bmm(da[t], w_hh);
    }
  });
  auto hs_prev = hs.narrow(0, 0, T);
  return {da, dh, dc, weight_grads(da, hs_prev), da.sum({0, 2}), dpeep_rows.sum(1)};
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("rnn_forward", &rnn_forward);
  m.def("rnn_backward", &rnn_backward);
  m.def("gru_forward", &gru_forward);
  m.def("gru_backward", &gru_backward);
  m.def("lstm_forward", &lstm_forward);
  m.def("lstm_backward", &lstm_backward);
}
