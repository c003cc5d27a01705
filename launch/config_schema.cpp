// launch/config_schema.cpp — the table of every config key: type, range, help, the field it fills.
#include "launch/config_schema.h"

#include <charconv>
#include <cmath>
#include <limits>
#include <string_view>
#include <type_traits>
#include <utility>

#include "runtime/error.h"

namespace sy {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

[[noreturn]] void bad_value(const std::string& name, const std::string& value,
                            const std::string& problem) {
  throw ConfigError("config error: " + name + " = " + (value.empty() ? "\"\"" : value) + " " +
                    problem);
}

// A field of Config reached through its section: c.*section.*field.
template <class S, class F>
struct Member {
  S Config::*section;
  F S::*field;
  F& operator()(Config& c) const { return c.*section.*field; }
  const F& operator()(const Config& c) const { return c.*section.*field; }
};

std::string trim_blanks(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  return b == std::string::npos ? "" : s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

template <class S, class F>
Member<S, F> at(S Config::*section, F S::*field) {
  return {section, field};
}

std::string format_real(double v) {
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);  // shortest text that reads back exactly
  return std::string(buf, res.ptr);
}

template <class I>
I parse_integer(const std::string& name, const std::string& text) {
  if constexpr (std::is_unsigned_v<I>)
    if (!text.empty() && text[0] == '-') bad_value(name, text, "must be >= 0");
  I v{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::result_out_of_range) bad_value(name, text, "is out of range");
  if (ec != std::errc() || ptr != end || text.empty()) bad_value(name, text, "is not an integer");
  return v;
}

double parse_real(const std::string& name, const std::string& text) {
  double v = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec == std::errc::result_out_of_range) bad_value(name, text, "is out of range");
  if (ec != std::errc() || ptr != end || text.empty()) bad_value(name, text, "is not a number");
  if (!std::isfinite(v)) bad_value(name, text, "is not a finite number");
  return v;
}

// Bounds of a real key: lo (open or closed), hi (open or closed).
struct RealRange {
  double lo = -kInf;
  bool lo_open = false;
  double hi = kInf;
  bool hi_open = true;
};
const RealRange kNonNegative{0.0, false};
const RealRange kPositive{0.0, true};
const RealRange kUnitHalfOpen{0.0, false, 1.0, true};  // [0, 1)

template <class S, class I>
ConfigKey int_key(std::string name, Member<S, I> m, std::type_identity_t<I> min, std::string help) {
  ConfigKey k{std::move(name), KeyType::integer, {}, std::move(help), {}, {}};
  k.set = [name = k.name, m, min](Config& c, const std::string& v) {
    I x = parse_integer<I>(name, v);
    if (x < min) bad_value(name, v, "must be >= " + std::to_string(min));
    m(c) = x;
  };
  k.get = [m](const Config& c) { return std::to_string(m(c)); };
  return k;
}

template <class S>
ConfigKey real_key(std::string name, Member<S, double> m, RealRange r, std::string help) {
  ConfigKey k{std::move(name), KeyType::real, {}, std::move(help), {}, {}};
  k.set = [name = k.name, m, r](Config& c, const std::string& v) {
    double x = parse_real(name, v);
    if (r.lo_open ? !(x > r.lo) : !(x >= r.lo))
      bad_value(name, v, std::string("must be ") + (r.lo_open ? "> " : ">= ") + format_real(r.lo));
    if (r.hi_open ? !(x < r.hi) : !(x <= r.hi))
      bad_value(name, v, std::string("must be ") + (r.hi_open ? "< " : "<= ") + format_real(r.hi));
    m(c) = x;
  };
  k.get = [m](const Config& c) { return format_real(m(c)); };
  return k;
}

template <class S>
ConfigKey bool_key(std::string name, Member<S, bool> m, std::string help) {
  ConfigKey k{std::move(name), KeyType::boolean, {"true", "false"}, std::move(help), {}, {}};
  k.set = [name = k.name, m](Config& c, const std::string& v) {
    if (v == "true" || v == "1" || v == "yes" || v == "on") {
      m(c) = true;
    } else if (v == "false" || v == "0" || v == "no" || v == "off") {
      m(c) = false;
    } else {
      bad_value(name, v, "is not true or false");
    }
  };
  k.get = [m](const Config& c) { return std::string(m(c) ? "true" : "false"); };
  return k;
}

template <class S, class E>
ConfigKey choice_key(std::string name, Member<S, E> m,
                     std::vector<std::pair<std::string, E>> values, std::string help) {
  ConfigKey k{std::move(name), KeyType::choice, {}, std::move(help), {}, {}};
  for (const auto& [text, e] : values) k.choices.push_back(text);
  std::string allowed;
  for (const auto& c : k.choices) allowed += (allowed.empty() ? "" : "|") + c;
  k.set = [name = k.name, m, values, allowed](Config& c, const std::string& v) {
    for (const auto& [text, e] : values)
      if (text == v) {
        m(c) = e;
        return;
      }
    bad_value(name, v, "is not one of " + allowed);
  };
  k.get = [m, values](const Config& c) {
    for (const auto& [text, e] : values)
      if (e == m(c)) return text;
    return std::string("?");  // unreachable for values built by set()
  };
  return k;
}

// A free-text key.  '#' starts a comment in INI and a newline ends the line, so neither could
// be written back by to_ini; `check` adds the key's own rule.
template <class S>
ConfigKey text_key(std::string name, Member<S, std::string> m, std::string help,
                   std::function<void(const std::string& name, const std::string& v)> check = {}) {
  ConfigKey k{std::move(name), KeyType::text, {}, std::move(help), {}, {}};
  k.set = [name = k.name, m, check](Config& c, const std::string& v) {
    if (v.find_first_of("#\n\r") != std::string::npos)
      bad_value(name, v, "may not contain '#' or a line break");
    if (check) check(name, v);
    m(c) = v;
  };
  k.get = [m](const Config& c) { return m(c); };
  return k;
}

template <class S>
ConfigKey int_list_key(std::string name, Member<S, std::vector<int>> m, std::string help) {
  ConfigKey k{std::move(name), KeyType::int_list, {}, std::move(help), {}, {}};
  k.set = [name = k.name, m](Config& c, const std::string& v) {
    std::vector<int> out;
    // Empty (or blank) is the empty list; otherwise every comma-separated item is an integer.
    if (v.find_first_not_of(" \t") != std::string::npos) {
      for (size_t pos = 0;;) {
        size_t comma = v.find(',', pos);
        std::string item =
            trim_blanks(v.substr(pos, comma == std::string::npos ? comma : comma - pos));
        int x = 0;
        auto [ptr, ec] = std::from_chars(item.data(), item.data() + item.size(), x);
        if (item.empty() || ec != std::errc() || ptr != item.data() + item.size())
          bad_value(name, v, "is not a comma-separated list of integers");
        if (x < 0) bad_value(name, v, "has a negative entry");
        out.push_back(x);
        if (comma == std::string::npos) break;
        pos = comma + 1;
      }
    }
    m(c) = std::move(out);
  };
  k.get = [m](const Config& c) {
    std::string s;
    for (int x : m(c)) s += (s.empty() ? "" : ",") + std::to_string(x);
    return s;
  };
  return k;
}

void check_source(const std::string& name, const std::string& v) {
  if (v == "synthetic") return;
  for (std::string_view prefix : {"text:", "shards:"})
    if (v.rfind(prefix, 0) == 0) {
      if (v.size() == prefix.size())
        bad_value(name, v, "names no path after '" + std::string(prefix) + "'");
      return;
    }
  bad_value(name, v, "is not synthetic, text:PATH or shards:GLOB");
}

void check_resume(const std::string& name, const std::string& v) {
  if (v.empty()) bad_value(name, v, "must be auto, none or a checkpoint path");
}

std::vector<ConfigKey> build_schema() {
  // One accessor per section keeps each table row to the field's own name.
  auto model = [](auto f) { return at(&Config::model, f); };
  auto moe = [](auto f) { return at(&Config::moe, f); };
  auto train = [](auto f) { return at(&Config::train, f); };
  auto par = [](auto f) { return at(&Config::parallel, f); };
  auto data = [](auto f) { return at(&Config::data, f); };
  auto ckpt = [](auto f) { return at(&Config::ckpt, f); };
  auto log = [](auto f) { return at(&Config::log, f); };
  auto eval = [](auto f) { return at(&Config::eval, f); };

  return {
      // [model]
      int_key("model.vocab_size", model(&ModelConfig::vocab_size), 1,
              "token ids are in [0, vocab_size)"),
      int_key("model.d_model", model(&ModelConfig::d_model), 1, "hidden size"),
      int_key("model.n_layers", model(&ModelConfig::n_layers), 1, "decoder layers"),
      int_key("model.n_heads", model(&ModelConfig::n_heads), 1, "query heads; must divide d_model"),
      int_key("model.n_kv_heads", model(&ModelConfig::n_kv_heads), 0,
              "key/value heads (GQA); must divide n_heads; 0 = n_heads"),
      int_key("model.d_ff", model(&ModelConfig::d_ff), 1, "hidden size of the dense MLPs"),
      int_key("model.max_seq_len", model(&ModelConfig::max_seq_len), 1,
              "longest sequence the positions support"),
      choice_key("model.norm", model(&ModelConfig::norm),
                 {{"layernorm", NormKind::layernorm}, {"rmsnorm", NormKind::rmsnorm}},
                 "LayerNorm (eps 1e-5, weight+bias) or RMSNorm (eps 1e-6, weight)"),
      choice_key(
          "model.activation", model(&ModelConfig::activation),
          {{"gelu", Activation::gelu}, {"relu", Activation::relu}, {"swiglu", Activation::swiglu}},
          "MLP activation; swiglu = fc2(silu(fc1 x) * fc3 x)"),
      choice_key("model.positions", model(&ModelConfig::positions),
                 {{"learned", Positions::learned},
                  {"sinusoidal", Positions::sinusoidal},
                  {"rope", Positions::rope}},
                 "position encoding; rope rotates q and k inside attention"),
      int_key("model.position_offset", model(&ModelConfig::position_offset), 0,
              "added to the token index before the position lookup (fairseq checkpoints: 2)"),
      real_key("model.rope_theta", model(&ModelConfig::rope_theta), kPositive,
               "rope base frequency"),
      bool_key("model.bias", model(&ModelConfig::bias), "biases on attention and MLP projections"),
      bool_key("model.tie_embeddings", model(&ModelConfig::tie_embeddings),
               "the output projection reuses the token embedding"),
      bool_key("model.scale_embeddings", model(&ModelConfig::scale_embeddings),
               "multiply token embeddings by sqrt(d_model)"),
      int_list_key(
          "model.moe_layers", model(&ModelConfig::moe_layers),
          "comma list of layer indices whose MLP is an MoE layer, e.g. 1,3,5; empty = dense"),
      // [moe]
      int_key("moe.num_experts", moe(&MoeConfig::num_experts), 0, "experts per MoE layer"),
      int_key("moe.top_k", moe(&MoeConfig::top_k), 1, "experts chosen per token; <= num_experts"),
      int_key("moe.d_expert", moe(&MoeConfig::d_expert), 0,
              "hidden size of an expert MLP; 0 = model.d_ff"),
      real_key("moe.capacity_factor", moe(&MoeConfig::capacity_factor), kNonNegative,
               "expert capacity = ceil(cf * tokens * top_k / num_experts) per rank; 0 = dropless"),
      bool_key("moe.normalize_topk", moe(&MoeConfig::normalize_topk),
               "divide the chosen gate weights by their sum"),
      choice_key("moe.router_noise", moe(&MoeConfig::router_noise),
                 {{"none", RouterNoise::none},
                  {"gumbel", RouterNoise::gumbel},
                  {"jitter", RouterNoise::jitter}},
                 "training-only router noise"),
      real_key("moe.jitter_eps", moe(&MoeConfig::jitter_eps), kUnitHalfOpen,
               "jitter multiplies the router input by U(1-eps, 1+eps)"),
      real_key("moe.aux_loss_coef", moe(&MoeConfig::aux_loss_coef), kNonNegative,
               "weight of the load-balancing loss"),
      real_key("moe.z_loss_coef", moe(&MoeConfig::z_loss_coef), kNonNegative,
               "weight of the router z-loss"),
      choice_key("moe.aux_loss_scope", moe(&MoeConfig::aux_loss_scope),
                 {{"micro", AuxScope::micro}, {"global", AuxScope::global}},
                 "balance statistics per micro-batch or over the global batch"),
      int_key("moe.shared_experts", moe(&MoeConfig::shared_experts), 0,
              "experts applied to every token besides the routed ones"),
      real_key("moe.bias_update_rate", moe(&MoeConfig::bias_update_rate), kNonNegative,
               "loss-free balancing bias step per optimizer step; 0 = off"),
      // [train]
      int_key("train.steps", train(&TrainConfig::steps), 0, "optimizer steps"),
      int_key("train.micro_batch", train(&TrainConfig::micro_batch), 1,
              "sequences per rank per micro-step"),
      int_key("train.seq_len", train(&TrainConfig::seq_len), 1,
              "tokens per sequence; <= model.max_seq_len"),
      int_key("train.grad_accum", train(&TrainConfig::grad_accum), 1,
              "micro-steps per optimizer step"),
      real_key("train.lr", train(&TrainConfig::lr), kPositive, "peak learning rate"),
      real_key("train.min_lr", train(&TrainConfig::min_lr), kNonNegative,
               "learning rate at the end of the cosine decay; <= lr"),
      int_key("train.warmup_steps", train(&TrainConfig::warmup_steps), 0, "linear warmup steps"),
      real_key("train.weight_decay", train(&TrainConfig::weight_decay), kNonNegative,
               "AdamW weight decay"),
      real_key("train.beta1", train(&TrainConfig::beta1), kUnitHalfOpen, "AdamW beta1"),
      real_key("train.beta2", train(&TrainConfig::beta2), kUnitHalfOpen, "AdamW beta2"),
      real_key("train.eps", train(&TrainConfig::eps), kPositive, "AdamW epsilon"),
      real_key("train.grad_clip", train(&TrainConfig::grad_clip), kNonNegative,
               "global gradient-norm clip; 0 = no clipping"),
      int_key("train.seed", train(&TrainConfig::seed), 0, "seed of initialisation, data and noise"),
      choice_key("train.precision", train(&TrainConfig::precision),
                 {{"fp32", Precision::fp32}, {"bf16", Precision::bf16}}, "compute precision"),
      choice_key("train.device", train(&TrainConfig::device),
                 {{"cpu", DeviceKind::cpu}, {"cuda", DeviceKind::cuda}}, "compute device"),
      // [parallel]
      int_key("parallel.ep", par(&ParallelConfig::ep), 1,
              "expert-parallel group size; divides the world size and moe.num_experts"),
      int_key("parallel.a2a_chunks", par(&ParallelConfig::a2a_chunks), 1,
              "token chunks per all-to-all, to overlap communication with expert compute"),
      int_key("parallel.threads", par(&ParallelConfig::threads), 0,
              "compute threads per rank; 0 = cores of the node / ranks on the node"),
      real_key("parallel.bucket_mb", par(&ParallelConfig::bucket_mb), kPositive,
               "gradient all-reduce bucket size in MiB"),
      real_key("parallel.stall_timeout_s", par(&ParallelConfig::stall_timeout_s), kPositive,
               "a collective pending this long is reported as a stall (exit 5)"),
      choice_key("parallel.a2a", par(&ParallelConfig::a2a),
                 {{"flat", A2aAlgo::flat}, {"hierarchical", A2aAlgo::hierarchical}},
                 "all-to-all algorithm"),
      // [data]
      text_key("data.source", data(&DataConfig::source),
               "synthetic | text:PATH (bytes, vocab 256) | shards:GLOB (llm.c .bin token shards)",
               check_source),
      // [ckpt]
      text_key("ckpt.dir", ckpt(&CkptConfig::dir), "checkpoint directory; empty = no checkpoints"),
      int_key("ckpt.every", ckpt(&CkptConfig::every), 0,
              "save every N steps; 0 = only the final checkpoint (when dir is set)"),
      int_key("ckpt.keep", ckpt(&CkptConfig::keep), 0, "newest checkpoints to keep; 0 = all"),
      text_key("ckpt.resume", ckpt(&CkptConfig::resume),
               "auto (latest in dir, if any) | none | PATH of a checkpoint", check_resume),
      // [log]
      int_key("log.every", log(&LogConfig::every), 1, "log every N steps"),
      text_key("log.metrics", log(&LogConfig::metrics), "JSONL metrics file; empty = none"),
      text_key("log.tensorboard", log(&LogConfig::tensorboard),
               "TensorBoard directory; empty = none"),
      // [eval]
      int_key("eval.max_windows", eval(&EvalConfig::max_windows), 0,
              "windows of train.seq_len+1 tokens to evaluate; 0 = all that fit"),
  };
}

}  // namespace

const std::vector<ConfigKey>& config_schema() {
  static const std::vector<ConfigKey> schema = build_schema();
  return schema;
}

const ConfigKey* find_config_key(const std::string& name) {
  for (const auto& k : config_schema())
    if (k.name == name) return &k;
  return nullptr;
}

std::vector<std::string> config_sections() {
  std::vector<std::string> out;
  for (const auto& k : config_schema())
    if (out.empty() || out.back() != k.section()) out.push_back(k.section());
  return out;
}

}  // namespace sy
