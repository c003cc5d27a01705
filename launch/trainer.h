// launch/trainer.h — Trainer: one rank's worker (data → forward/backward → gradient sync → clip → AdamW
// → log → save) and, on rank 0, the driver that decides every step's command for all ranks.
#pragma once
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "comm/collectives.h"
#include "comm/gradient_sync.h"
#include "io/data_source.h"
#include "io/metrics.h"
#include "model/transformer.h"
#include "runtime/optimizer.h"

namespace sy {

// What one optimizer step did, reduced over all ranks (identical on every rank).
struct StepStats {
  int64_t step = 0;
  double loss = 0;     // mean over all micro-batches of CE + aux_coef·Σaux + z_coef·Σz
  double ce_loss = 0;  // mean CE
  double aux_loss = 0, z_loss = 0;  // mean over micro-batches of Σ_l aux_l, Σ_l z_l
  double lr = 0, grad_norm = 0;
  double step_ms = 0, tokens_per_s = 0;
  double dropped_frac = 0;
  std::vector<std::vector<int64_t>> expert_load;  // per MoE layer, assignments per expert, all ranks
  std::vector<double> layer_dropped_frac;         // per MoE layer, all ranks
  std::vector<double> layer_router_entropy;       // per MoE layer, mean over micro-batches of all ranks
  CommTimes comm;                                 // this rank's communication times
};

// The command rank 0 broadcasts before every step (DESIGN.md §2): all ranks act alike.
enum class Command : int64_t { step = 0, save = 1, stop = 2, save_and_stop = 3 };

class Trainer {
 public:
  // Builds backend, this rank's part of the model (dense replica + expert shard),
  // optimizer and data source; resumes when ckpt.resume says so.  `comm` spans
  // the ranks of the run (LocalCollectives for one process).
  Trainer(const Config& cfg, Collectives& comm);
  ~Trainer();

  // One optimizer step (step() + 1) on every rank.  Throws NumericalError on a
  // non-finite loss or gradient (every rank sees the same reduced values).
  StepStats train_step();
  // Runs to train.steps (or a preemption signal) with progress, metrics and checkpoints.
  // Returns the command that ended the run.
  Command run();
  // Collective: writes a checkpoint of the current step into ckpt.dir.
  std::filesystem::path save();
  // Loads parameters, moments and trainer state from a checkpoint of the same model.
  void resume_from(const std::filesystem::path& ckpt);

  int64_t step() const { return step_; }
  int rank() const { return rank_; }
  Transformer<float>& model() { return *model_; }
  AdamW<float>& optimizer() { return *optimizer_; }
  const DataSource& data() const { return *data_; }

 private:
  Command next_command();
  void log_step(const StepStats& s);
  void resume_if_configured();
  // Sums the squares of this rank's expert gradients into expert_sq and starts
  // their sum over the EP group (expert_sq must live until the handle is waited).
  CommHandle start_expert_norm(double& expert_sq);

  Config cfg_;
  Collectives& comm_;
  int world_size_ = 1, rank_ = 0, ep_size_ = 1, ep_rank_ = 0;
  Backend<float> backend_;
  std::unique_ptr<Transformer<float>> model_;
  std::unique_ptr<AdamW<float>> optimizer_;
  std::unique_ptr<DataSource> data_;
  std::unique_ptr<Dispatcher<float>> dispatcher_;
  std::unique_ptr<GradientSync> grad_sync_;
  std::unique_ptr<MetricsWriter> metrics_;
  std::vector<int32_t> tokens_;
  std::vector<double> reduce_buf_;
  int64_t step_ = 0;
  int64_t tokens_seen_ = 0;
  int64_t saved_step_ = -1;  // the step of the last checkpoint this run wrote or resumed from
};

}  // namespace sy
