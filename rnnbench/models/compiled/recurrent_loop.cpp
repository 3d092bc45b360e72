// The time loop of the built-in gated cells (RNN, GRU, LSTM and its peephole / CIFG / no-forget
// variants) in one call: forward over all T steps, and its backward, K members at once.
//
// Shapes (K members, each with its own weights; B samples; H units; G gate blocks of H):
//   xp    (T, K, B, G·H)  W_ih x_t + b_ih for every step, computed before the loop (one GEMM)
//   h0    (K, B, H)       c0 likewise for the LSTM
//   w_hh  (K, G·H, H)     b_hh (K, G·H); peephole (K, P, H) with P rows p_i, (p_f,) p_o
// Per step: one batched GEMM W_hh h (into a buffer, no allocation), then one pass over (K, B, H)
// adding b_hh and computing every gate of a unit together. The backward walks the steps in reverse
// with one GEMM per step for ∂L/∂h_{t−1}; the weights' gradients are one GEMM over all steps at the
// end. The equations are the cells' Python forwards (rnnbench/models/{rnn,gru,lstm,lstm_variants}.py),
// which stay the definition: tests/test_compiled.py holds this file equal to them in float64.
#include <torch/extension.h>

#include <ATen/Parallel.h>
#include <ATen/cpu/vec/vec.h>

#include <vector>

namespace {

using at::Tensor;
template <typename T> using Vec = at::vec::Vectorized<T>;

// The passes run on vectors of units (ATen's Vectorized: SLEEF's exp and tanh, AVX2 where the
// build enables it); per unit, the transcendental functions cost more than everything else of a
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

template <typename F> inline void rows(int64_t n, F f) {  // f(row) for each of the K·B rows
  at::parallel_for(0, n, 16, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) f(row);
  });
}

// The recurrent GEMMs of a loop: W_hh h_t (forward) and dgates W_hh (backward), into buffers.
struct Hidden {
  Tensor w_t, w;  // (K, H, G·H) contiguous, and (K, G·H, H)
  explicit Hidden(const Tensor& w_hh) : w_t(w_hh.transpose(1, 2).contiguous()), w(w_hh) {}
  void forward(const Tensor& h, Tensor& out) const { at::bmm_out(out, h, w_t); }   // (K, B, H) → (K, B, G·H)
  void backward(const Tensor& d, Tensor& out) const { at::bmm_out(out, d, w); }    // (K, B, G·H) → (K, B, H)
};

std::vector<Tensor> weight_grads(const Tensor& dhp, const Tensor& hs) {
  // W_hh's and b_hh's: Σ_t dhp_tᵀ h_{t−1} (K, G·H, H) and Σ_t dhp_t (K, G·H), from dhp (T, K, B, G·H)
  // and hs (T + 1, K, B, H). Each member's sums read only its own contiguous block, so a member
  // gets the same bits whatever the number of members beside it (a resumed batched run).
  auto T = dhp.size(0), K = dhp.size(1);
  auto a = dhp.permute({1, 3, 0, 2}).reshape({K, dhp.size(3), -1}).contiguous();  // (K, G·H, T·B)
  auto b = hs.narrow(0, 0, T).permute({1, 0, 2, 3}).reshape({K, -1, hs.size(3)}).contiguous();
  std::vector<Tensor> grads;
  for (int64_t k = 0; k < K; ++k) grads.push_back(at::mm(a[k], b[k]));
  return {at::stack(grads), a.sum(-1)};
}

// ---------------------------------------------------------------- RNN: h = act(xp + W_hh h + b_hh)
std::vector<Tensor> rnn_forward(Tensor xp, Tensor h0, Tensor w_hh, Tensor b_hh, bool relu) {
  auto T = xp.size(0), K = xp.size(1), B = xp.size(2), H = h0.size(2);
  auto hs = at::empty({T + 1, K, B, H}, h0.options());
  auto hp = at::empty({K, B, H}, h0.options());
  hs[0].copy_(h0);
  Hidden hidden(w_hh);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnn_forward", [&] {
    using V = Vec<scalar_t>;
    auto x0 = xp.data_ptr<scalar_t>(), h_all = hs.data_ptr<scalar_t>(), p = hp.data_ptr<scalar_t>();
    auto bias = b_hh.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      hidden.forward(hs[t], hp);
      auto x = x0 + t * K * B * H, out = h_all + (t + 1) * K * B * H;
      rows(K * B, [&](int64_t row) {
        auto b = bias + (row / B) * H;
        each<scalar_t>(H, [&](int64_t j, int64_t n) {
          auto a = load(x + row * H + j, n) + load(p + row * H + j, n) + load(b + j, n);
          (relu ? at::vec::maximum(a, V(0)) : a.tanh()).store(out + row * H + j, n);
        });
      });
    }
  });
  return {hs};
}

std::vector<Tensor> rnn_backward(Tensor dhs, Tensor dh_last, Tensor hs, Tensor w_hh, bool relu) {
  auto T = dhs.size(0), K = dhs.size(1), B = dhs.size(2), H = dhs.size(3);
  auto da = at::empty({T, K, B, H}, dhs.options());
  auto dh = dh_last.clone();  // ∂L/∂h_t through the later steps
  Hidden hidden(w_hh);
  AT_DISPATCH_FLOATING_TYPES(dhs.scalar_type(), "rnn_backward", [&] {
    auto g0 = dhs.data_ptr<scalar_t>(), h_all = hs.data_ptr<scalar_t>(), da0 = da.data_ptr<scalar_t>();
    auto d = dh.data_ptr<scalar_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      auto g = g0 + t * K * B * H, y = h_all + (t + 1) * K * B * H, out = da0 + t * K * B * H;
      rows(K * B, [&](int64_t i0) {
        for (int64_t i = i0 * H; i < (i0 + 1) * H; ++i) {
          scalar_t total = d[i] + g[i];
          out[i] = relu ? (y[i] > 0 ? total : scalar_t(0)) : total * (scalar_t(1) - y[i] * y[i]);
        }
      });
      auto da_t = da[t];
      hidden.backward(da_t, dh);
    }
  });
  auto w = weight_grads(da, hs);
  return {da, dh, w[0], w[1]};
}

// ---------------------------------------------------------------- GRU (torch's form, gates r, z, n)
//   r = σ(x_r + h_r), z = σ(x_z + h_z), n = tanh(x_n + r ⊙ h_n), h' = (1 − z) ⊙ n + z ⊙ h
//   with h_· = W_h· h + b_h·
std::vector<Tensor> gru_forward(Tensor xp, Tensor h0, Tensor w_hh, Tensor b_hh) {
  auto T = xp.size(0), K = xp.size(1), B = xp.size(2), H = h0.size(2);
  auto hs = at::empty({T + 1, K, B, H}, h0.options());
  auto saved = at::empty({T, K, B, 4 * H}, h0.options());  // r, z, n, h_n
  auto hp = at::empty({K, B, 3 * H}, h0.options());
  hs[0].copy_(h0);
  Hidden hidden(w_hh);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_forward", [&] {
    auto x0 = xp.data_ptr<scalar_t>(), h_all = hs.data_ptr<scalar_t>(), s0 = saved.data_ptr<scalar_t>();
    auto p = hp.data_ptr<scalar_t>(), bias = b_hh.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      hidden.forward(hs[t], hp);
      auto x = x0 + t * K * B * 3 * H, h = h_all + t * K * B * H, out = h + K * B * H, s = s0 + t * K * B * 4 * H;
      rows(K * B, [&](int64_t row) {
        auto xr = x + row * 3 * H, pr = p + row * 3 * H, sr = s + row * 4 * H, b = bias + (row / B) * 3 * H;
        each<scalar_t>(H, [&](int64_t j, int64_t m) {
          auto hidden_gate = [&](int64_t k) { return load(pr + k * H + j, m) + load(b + k * H + j, m); };
          auto r = sigmoid(load(xr + j, m) + hidden_gate(0));
          auto z = sigmoid(load(xr + H + j, m) + hidden_gate(1));
          auto hn = hidden_gate(2);
          auto n = (load(xr + 2 * H + j, m) + r * hn).tanh();
          (n + z * (load(h + row * H + j, m) - n)).store(out + row * H + j, m);
          r.store(sr + j, m), z.store(sr + H + j, m), n.store(sr + 2 * H + j, m), hn.store(sr + 3 * H + j, m);
        });
      });
    }
  });
  return {hs, saved};
}

std::vector<Tensor> gru_backward(Tensor dhs, Tensor dh_last, Tensor hs, Tensor saved, Tensor w_hh) {
  auto T = dhs.size(0), K = dhs.size(1), B = dhs.size(2), H = dhs.size(3);
  auto dxp = at::empty({T, K, B, 3 * H}, dhs.options());
  auto dhp = at::empty({T, K, B, 3 * H}, dhs.options());
  auto dh = dh_last.clone();                        // ∂L/∂h_t through W_hh of step t + 1
  auto direct = at::zeros({K, B, H}, dhs.options());  // … and through z ⊙ h of step t + 1
  Hidden hidden(w_hh);
  AT_DISPATCH_FLOATING_TYPES(dhs.scalar_type(), "gru_backward", [&] {
    auto g0 = dhs.data_ptr<scalar_t>(), h_all = hs.data_ptr<scalar_t>(), s0 = saved.data_ptr<scalar_t>();
    auto dx0 = dxp.data_ptr<scalar_t>(), dp0 = dhp.data_ptr<scalar_t>();
    auto d = dh.data_ptr<scalar_t>(), dd = direct.data_ptr<scalar_t>();
    for (int64_t t = T - 1; t >= 0; --t) {
      auto g = g0 + t * K * B * H, h = h_all + t * K * B * H, s = s0 + t * K * B * 4 * H;
      auto dx = dx0 + t * K * B * 3 * H, dp = dp0 + t * K * B * 3 * H;
      rows(K * B, [&](int64_t row) {
        auto sr = s + row * 4 * H, dxr = dx + row * 3 * H, dpr = dp + row * 3 * H;
        for (int64_t j = 0; j < H; ++j) {
          int64_t i = row * H + j;
          scalar_t r = sr[j], z = sr[H + j], n = sr[2 * H + j], hn = sr[3 * H + j];
          scalar_t total = d[i] + dd[i] + g[i];
          scalar_t da_n = total * (scalar_t(1) - z) * (scalar_t(1) - n * n);
          scalar_t da_z = total * (h[i] - n) * z * (scalar_t(1) - z);
          scalar_t da_r = da_n * hn * r * (scalar_t(1) - r);
          dxr[j] = da_r, dxr[H + j] = da_z, dxr[2 * H + j] = da_n;
          dpr[j] = da_r, dpr[H + j] = da_z, dpr[2 * H + j] = da_n * r;
          dd[i] = total * z;
        }
      });
      auto dhp_t = dhp[t];
      hidden.backward(dhp_t, dh);
    }
  });
  auto w = weight_grads(dhp, hs);
  return {dxp, dh + direct, w[0], w[1]};
}

// ---------------------------------------------------------------- LSTM and its variants
//   gates i, (f,) g, o;  peephole: a_i += p_i c_{t−1}, a_f += p_f c_{t−1}, a_o += p_o c_t
//   f = σ(a_f), or 1 − i (cifg), or 1 (no forget gate);  c' = f c + i tanh(g);  h' = σ(a_o) tanh(c')
struct LstmFlags {
  bool forget, cifg, peephole;
  int64_t gates() const { return forget ? 4 : 3; }
  int64_t g() const { return forget ? 2 : 1; }  // the blocks of g and o
  int64_t o() const { return forget ? 3 : 2; }
};

std::vector<Tensor> lstm_forward(Tensor xp, Tensor h0, Tensor c0, Tensor w_hh, Tensor b_hh, Tensor peephole,
                                 bool cifg, bool no_forget) {
  LstmFlags flags{!(cifg || no_forget), cifg, peephole.numel() > 0};
  int64_t G = flags.gates();
  auto T = xp.size(0), K = xp.size(1), B = xp.size(2), H = h0.size(2);
  auto hs = at::empty({T + 1, K, B, H}, h0.options());
  auto cs = at::empty({T + 1, K, B, H}, h0.options());
  auto saved = at::empty({T, K, B, 5 * H}, h0.options());  // i, f, tanh g, o, tanh c_t
  auto hp = at::empty({K, B, G * H}, h0.options());
  hs[0].copy_(h0);
  cs[0].copy_(c0);
  Hidden hidden(w_hh);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "lstm_forward", [&] {
    using V = Vec<scalar_t>;
    const scalar_t* pp = flags.peephole ? peephole.data_ptr<scalar_t>() : nullptr;
    int64_t P = flags.peephole ? peephole.size(1) : 0;
    auto x0 = xp.data_ptr<scalar_t>(), h_all = hs.data_ptr<scalar_t>(), c_all = cs.data_ptr<scalar_t>();
    auto s0 = saved.data_ptr<scalar_t>(), p = hp.data_ptr<scalar_t>(), bias = b_hh.data_ptr<scalar_t>();
    for (int64_t t = 0; t < T; ++t) {
      hidden.forward(hs[t], hp);
      auto x = x0 + t * K * B * G * H, c = c_all + t * K * B * H, c_out = c + K * B * H;
      auto out = h_all + (t + 1) * K * B * H, s = s0 + t * K * B * 5 * H;
      rows(K * B, [&](int64_t row) {
        auto xr = x + row * G * H, pr = p + row * G * H, sr = s + row * 5 * H, b = bias + (row / B) * G * H;
        const scalar_t* peep = pp ? pp + (row / B) * P * H : nullptr;
        each<scalar_t>(H, [&](int64_t j, int64_t m) {
          auto gate = [&](int64_t k) {
            return load(xr + k * H + j, m) + load(pr + k * H + j, m) + load(b + k * H + j, m);
          };
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
          auto g = gate(flags.g()).tanh();
          auto c_new = f * c_prev + i * g;
          auto a_o = gate(flags.o());
          if (peep) a_o = a_o + load(peep + (P - 1) * H + j, m) * c_new;
          auto o = sigmoid(a_o);
          auto tc = c_new.tanh();
          c_new.store(c_out + row * H + j, m);
          (o * tc).store(out + row * H + j, m);
          i.store(sr + j, m), f.store(sr + H + j, m), g.store(sr + 2 * H + j, m), o.store(sr + 3 * H + j, m);
          tc.store(sr + 4 * H + j, m);
        });
      });
    }
  });
  return {hs, cs, saved};
}

std::vector<Tensor> lstm_backward(Tensor dhs, Tensor dh_last, Tensor dc_last, Tensor hs, Tensor cs, Tensor saved,
                                  Tensor w_hh, Tensor peephole, bool cifg, bool no_forget) {
  LstmFlags flags{!(cifg || no_forget), cifg, peephole.numel() > 0};
  int64_t G = flags.gates();
  auto T = dhs.size(0), K = dhs.size(1), B = dhs.size(2), H = dhs.size(3);
  int64_t P = flags.peephole ? peephole.size(1) : 0;
  auto da = at::empty({T, K, B, G * H}, dhs.options());
  auto dpeep_rows = at::zeros({K, B, P, H}, dhs.options());  // summed over the batch at the end
  auto dh = dh_last.clone();
  auto dc = dc_last.clone();
  Hidden hidden(w_hh);
  AT_DISPATCH_FLOATING_TYPES(dhs.scalar_type(), "lstm_backward", [&] {
    const scalar_t* pp = flags.peephole ? peephole.data_ptr<scalar_t>() : nullptr;
    auto g0 = dhs.data_ptr<scalar_t>(), s0 = saved.data_ptr<scalar_t>(), c_all = cs.data_ptr<scalar_t>();
    auto da0 = da.data_ptr<scalar_t>(), d = dh.data_ptr<scalar_t>(), dcp = dc.data_ptr<scalar_t>();
    auto dpeep = dpeep_rows.data_ptr<scalar_t>();
    int64_t gg = flags.g(), go = flags.o();
    for (int64_t t = T - 1; t >= 0; --t) {
      auto g_out = g0 + t * K * B * H, s = s0 + t * K * B * 5 * H, out = da0 + t * K * B * G * H;
      auto c_prev_p = c_all + t * K * B * H, c_new_p = c_prev_p + K * B * H;
      rows(K * B, [&](int64_t row) {
        auto sr = s + row * 5 * H, dr = out + row * G * H;
        const scalar_t* peep = pp ? pp + (row / B) * P * H : nullptr;
        scalar_t* dpr = dpeep + row * P * H;
        for (int64_t j = 0; j < H; ++j) {
          int64_t k = row * H + j;
          scalar_t i = sr[j], f = sr[H + j], g = sr[2 * H + j], o = sr[3 * H + j], tc = sr[4 * H + j];
          scalar_t c_prev = c_prev_p[k];
          scalar_t dh_t = d[k] + g_out[k];
          scalar_t da_o = dh_t * tc * o * (scalar_t(1) - o);
          scalar_t dc_t = dcp[k] + dh_t * o * (scalar_t(1) - tc * tc);
          if (peep) {
            dc_t += da_o * peep[(P - 1) * H + j];
            dpr[(P - 1) * H + j] += da_o * c_new_p[k];
          }
          scalar_t di = dc_t * g, df = dc_t * c_prev, dc_prev = dc_t * f;
          if (flags.cifg) di -= df;  // f = 1 − i
          scalar_t da_i = di * i * (scalar_t(1) - i);
          dr[j] = da_i, dr[gg * H + j] = dc_t * i * (scalar_t(1) - g * g), dr[go * H + j] = da_o;
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
          dcp[k] = dc_prev;
        }
      });
      auto da_t = da[t];
      hidden.backward(da_t, dh);
    }
  });
  auto w = weight_grads(da, hs);
  return {da, dh, dc, w[0], w[1], dpeep_rows.sum(1)};
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
