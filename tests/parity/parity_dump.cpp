// tests/parity/parity_dump.cpp — writes a checkpoint, one training micro-batch and our loss and
// gradients for it, so tools/torch_ref.py can recompute both from the checkpoint alone.
//
//   parity_dump --config FILE --out DIR [--section.key=value ...]
// writes DIR/ckpt/step-00000000/..., DIR/batch.h5 (/tokens int32 [B, T+1]) and DIR/ours.h5
// (/loss /ce_loss /aux_loss /z_loss float64, /grad/<name> float32, /dropped int64).
#include <hdf5.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "io/checkpoint_commit.h"
#include "io/checkpoint_dataset.h"
#include "io/data_source.h"
#include "io/hdf5_util.h"
#include "launch/checkpointing.h"
#include "launch/config_schema.h"
#include "model/transformer.h"

namespace sy {
namespace {

void write_scalar(hid_t file, const char* name, hid_t type, const void* value) {
  h5::Space space(SY_H5(H5Screate(H5S_SCALAR), name));
  h5::Dataset ds(SY_H5(H5Dcreate2(file, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), name));
  SY_H5(H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, value), name);
}

int run(const std::string& config_path, const std::filesystem::path& out, const std::vector<std::string>& overrides) {
  const Config cfg = parse_config(config_path, overrides);
  if (cfg.moe.router_noise != RouterNoise::none) throw ConfigError("parity needs moe.router_noise = none");
  auto be = make_cpu_backend<float>(1);
  Transformer<float> model(cfg.model, cfg.moe);
  init_parameters(model.params(), cfg.train.seed);
  // Move every trainable value off its init (zero biases, unit norm weights) so each path carries signal.
  for (auto& p : model.params()) {
    if (!p.trainable) continue;
    Rng rng(cfg.train.seed + 1, fnv1a(p.name));
    for (int64_t i = 0; i < p.value.numel(); ++i) p.value[i] += static_cast<float>(0.05 * rng.normal());
  }

  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out);
  CheckpointMeta meta;
  meta.ep_size = cfg.parallel.ep;
  meta.experts_per_file = cfg.model.moe_layers.empty() ? 0 : cfg.moe.num_experts / cfg.parallel.ep;
  meta.config = to_ini(cfg);
  // One process writes every rank file of the layout.
  const auto tensors = checkpoint_tensors(model.params(), nullptr);
  const auto partial = begin_checkpoint(out / "ckpt", 0);
  write_shared_file(partial, meta, tensors);
  for (int64_t n = 0; n < (meta.experts_per_file ? meta.ep_size : 0); ++n) write_rank_file(partial, n, meta, tensors);
  commit_checkpoint(out / "ckpt", 0, 0);

  const int64_t B = cfg.train.micro_batch, T = cfg.train.seq_len;
  auto data = make_data_source(cfg.data.source, cfg.model.vocab_size);
  std::vector<int32_t> tokens(B * (T + 1));
  data->training_sequences(cfg.train.seed, 1, 0, B, T, tokens.data());

  StepContext ctx;
  ctx.batch = B;
  ctx.seq_len = T;
  ctx.training = true;
  ctx.seed = cfg.train.seed;
  ctx.step = 1;
  ctx.loss_scale = 1.0;
  LocalDispatcher<float> dispatcher;
  model.params().zero_grad();
  const MicroBatchLoss l = model.forward_backward(be, ctx, tokens.data(), dispatcher);
  int64_t dropped = 0;
  for (auto* layer : model.moe_layers()) dropped += layer->stats().dropped;

  {
    h5::File f = h5::create_file(out / "batch.h5");
    const hsize_t dims[2] = {hsize_t(B), hsize_t(T + 1)};
    h5::Space space(SY_H5(H5Screate_simple(2, dims, nullptr), "tokens"));
    h5::Dataset ds(SY_H5(H5Dcreate2(f.get(), "tokens", H5T_STD_I32LE, space.get(), H5P_DEFAULT, H5P_DEFAULT,
                                    H5P_DEFAULT), "tokens"));
    SY_H5(H5Dwrite(ds.get(), H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, tokens.data()), "tokens");
  }
  {
    h5::File f = h5::create_file(out / "ours.h5");
    const double ce = l.ce_sum / double(l.tokens);
    const double loss = ce + cfg.moe.aux_loss_coef * l.aux + cfg.moe.z_loss_coef * l.z;
    write_scalar(f.get(), "loss", H5T_NATIVE_DOUBLE, &loss);
    write_scalar(f.get(), "ce_loss", H5T_NATIVE_DOUBLE, &ce);
    write_scalar(f.get(), "aux_loss", H5T_NATIVE_DOUBLE, &l.aux);
    write_scalar(f.get(), "z_loss", H5T_NATIVE_DOUBLE, &l.z);
    write_scalar(f.get(), "dropped", H5T_NATIVE_INT64, &dropped);
    h5::PropList lcpl(SY_H5(H5Pcreate(H5P_LINK_CREATE), "lcpl"));
    SY_H5(H5Pset_create_intermediate_group(lcpl.get(), 1), "lcpl");
    BackgroundHasher hasher;
    for (auto& p : model.params())
      if (p.trainable)
        write_checked_dataset(f.get(), "grad/" + p.name, p.grad.shape(), p.grad.data(), lcpl.get(), H5P_DEFAULT,
                              "ours.h5", hasher);
  }
  std::printf("parity_dump: loss %.8g (ce %.8g aux %.8g z %.8g), %lld dropped assignments -> %s\n",
              l.ce_sum / double(l.tokens) + cfg.moe.aux_loss_coef * l.aux + cfg.moe.z_loss_coef * l.z,
              l.ce_sum / double(l.tokens), l.aux, l.z, (long long)dropped, out.c_str());
  return 0;
}

}  // namespace
}  // namespace sy

int main(int argc, char** argv) {
  std::string config, out;
  std::vector<std::string> overrides;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config = argv[++i];
    else if (a == "--out" && i + 1 < argc) out = argv[++i];
    else overrides.push_back(a);
  }
  if (config.empty() || out.empty()) {
    std::fprintf(stderr, "usage: parity_dump --config FILE --out DIR [--section.key=value ...]\n");
    return 2;
  }
  try {
    return sy::run(config, out, overrides);
  } catch (const sy::Error& e) {
    std::fprintf(stderr, "parity_dump: %s\n", e.what());
    return static_cast<int>(e.code());
  }
}
