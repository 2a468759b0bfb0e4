// Adam with PyTorch's bias correction and optional decoupled weight decay (AdamW), for the editor's few
// hand-optimised tensors (memory shifts, UnKE block parameters). Call under torch::NoGradGuard.
#pragma once

#include <cmath>

#include <torch/types.h>

namespace muke {

class Adam {
 public:
  explicit Adam(double lr, double weight_decay = 0.0, double eps = 1e-8, double beta1 = 0.9, double beta2 = 0.999)
      : lr_(lr), weight_decay_(weight_decay), eps_(eps), beta1_(beta1), beta2_(beta2) {}

  // param ← param − lr·m̂ / (√v̂ + eps), after param ← param·(1 − lr·weight_decay).
  void Step(torch::Tensor& param, const torch::Tensor& grad) {
    if (!m_.defined()) {
      m_ = torch::zeros_like(param);
      v_ = torch::zeros_like(param);
    }
    ++t_;
    if (weight_decay_ != 0) param.mul_(1 - lr_ * weight_decay_);
    m_.mul_(beta1_).add_(grad, 1 - beta1_);
    v_.mul_(beta2_).addcmul_(grad, grad, 1 - beta2_);
    const double bias1 = 1 - std::pow(beta1_, t_), bias2 = 1 - std::pow(beta2_, t_);
    param.addcdiv_(m_, v_.sqrt() / std::sqrt(bias2) + eps_, -lr_ / bias1);
  }

 private:
  double lr_, weight_decay_, eps_, beta1_, beta2_;
  int t_ = 0;
  torch::Tensor m_, v_;
};

}  // namespace muke
