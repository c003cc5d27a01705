// launch/trainer.h — Trainer: one process's training loop (data → forward/backward → clip → AdamW → log → save).
#pragma once
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "io/data_source.h"
#include "io/metrics.h"
#include "model/transformer.h"
#include "runtime/optimizer.h"

namespace sy {

// What one optimizer step did; rank 0 logs it.
struct StepStats {
  int64_t step = 0;
  double loss = 0;     // mean over micro-batches of CE + aux_coef·Σaux + z_coef·Σz
  double ce_loss = 0;  // mean CE
  double aux_loss = 0, z_loss = 0;  // mean over micro-batches of Σ_l aux_l, Σ_l z_l
  double lr = 0, grad_norm = 0;
  double step_ms = 0, tokens_per_s = 0;
  double dropped_frac = 0;
  std::vector<std::vector<int64_t>> expert_load;  // per MoE layer, assignments per expert
};

class Trainer {
 public:
  // Builds backend, model, optimizer and data source from `cfg` (already validated).
  explicit Trainer(const Config& cfg);
  ~Trainer();

  // One optimizer step (step() + 1).  Throws NumericalError on a non-finite loss or gradient.
  StepStats train_step();
  // Runs to train.steps with progress lines, metrics and checkpoints.
  void run();
  // Writes a checkpoint of the current step into ckpt.dir; returns its directory.
  std::filesystem::path save();
  // Loads parameters, moments and trainer state from a checkpoint of the same model.
  void resume_from(const std::filesystem::path& ckpt);

  int64_t step() const { return step_; }
  Transformer<float>& model() { return *model_; }
  AdamW<float>& optimizer() { return *optimizer_; }
  const Backend<float>& backend() const { return backend_; }
  const DataSource& data() const { return *data_; }

 private:
  void log_step(const StepStats& s);
  void resume_if_configured();

  Config cfg_;
  Backend<float> backend_;
  std::unique_ptr<Transformer<float>> model_;
  std::unique_ptr<AdamW<float>> optimizer_;
  std::unique_ptr<DataSource> data_;
  std::unique_ptr<Dispatcher<float>> dispatcher_;
  std::unique_ptr<MetricsWriter> metrics_;
  std::vector<int32_t> tokens_;
  int64_t step_ = 0;
  int64_t tokens_seen_ = 0;
  int world_size_ = 1, rank_ = 0;
};

}  // namespace sy
