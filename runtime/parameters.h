// runtime/parameters.h — Parameter and ParameterSet: every trainable tensor, its gradient,
// its checkpoint name (DESIGN.md §5) and whether it is dense or an expert's.
#pragma once
#include <deque>
#include <string>
#include <unordered_map>

#include "runtime/rng.h"
#include "runtime/tensor.h"

namespace sy {

enum class ParamGroup { dense, expert };

// How a parameter is initialised.  Values are a pure function of (seed, name),
// so an expert gets the same initial weights whichever rank owns it.
struct InitSpec {
  enum Kind { normal, zeros, ones, custom } kind = normal;
  double std = 0.02;
  static InitSpec Normal(double s = 0.02) { return {normal, s}; }
  static InitSpec Zeros() { return {zeros, 0.0}; }
  static InitSpec Ones() { return {ones, 0.0}; }
  // Filled by the owning layer (e.g. sinusoidal tables); init_parameters skips it.
  static InitSpec Custom() { return {custom, 0.0}; }
};

template <class T>
struct Parameter {
  std::string name;  // checkpoint name, experts with their *global* id
  Tensor<T> value;
  Tensor<T> grad;
  ParamGroup group = ParamGroup::dense;
  int layer = -1;   // for experts: the layer index
  int expert = -1;  // for experts: the global expert id
  bool weight_decay = true;  // false for biases and norm weights
  bool trainable = true;     // false for fixed tables (sinusoidal positions)
  InitSpec init;
};

// Owns parameters with stable addresses, in creation order (which is also the
// order the optimizer and the checkpoint writer walk them).
template <class T>
class ParameterSet {
 public:
  Parameter<T>& add(std::string name, Shape shape, InitSpec init, bool weight_decay = true) {
    SY_ASSERT(!index_.count(name), "duplicate parameter " + name);
    Parameter<T>& p = params_.emplace_back();
    p.name = std::move(name);
    p.value = Tensor<T>(shape);
    p.grad = Tensor<T>(shape);
    p.init = init;
    p.weight_decay = weight_decay;
    index_[p.name] = &p;
    return p;
  }
  Parameter<T>& add_expert(std::string name, Shape shape, InitSpec init, int layer, int expert) {
    Parameter<T>& p = add(std::move(name), std::move(shape), init, true);
    p.group = ParamGroup::expert;
    p.layer = layer;
    p.expert = expert;
    return p;
  }

  Parameter<T>* find(const std::string& name) {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : it->second;
  }
  Parameter<T>& at(const std::string& name) {
    Parameter<T>* p = find(name);
    SY_ASSERT(p, "no parameter " + name);
    return *p;
  }

  auto begin() { return params_.begin(); }
  auto end() { return params_.end(); }
  auto begin() const { return params_.begin(); }
  auto end() const { return params_.end(); }
  size_t size() const { return params_.size(); }

  void zero_grad() {
    for (auto& p : params_) p.grad.zero_cold();
  }
  int64_t numel() const {
    int64_t n = 0;
    for (const auto& p : params_) n += p.value.numel();
    return n;
  }

 private:
  std::deque<Parameter<T>> params_;
  std::unordered_map<std::string, Parameter<T>*> index_;
};

// Fills every parameter whose init is not Custom from (seed, name).
template <class T>
void init_parameters(ParameterSet<T>& params, uint64_t seed) {
  for (auto& p : params) {
    switch (p.init.kind) {
      case InitSpec::zeros: p.value.zero(); break;
      case InitSpec::ones:
        for (int64_t i = 0; i < p.value.numel(); ++i) p.value[i] = T(1);
        break;
      case InitSpec::normal: {
        Rng rng(seed, fnv1a(p.name));
        for (int64_t i = 0; i < p.value.numel(); ++i) p.value[i] = static_cast<T>(p.init.std * rng.normal());
        break;
      }
      case InitSpec::custom: break;
    }
  }
}

}  // namespace sy
