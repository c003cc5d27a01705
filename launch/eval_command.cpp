// launch/eval_command.cpp — `switchyard eval`: plain cross-entropy of a checkpoint over sequential windows.
#include <cstdio>

#include "io/data_source.h"
#include "launch/checkpointing.h"
#include "launch/commands.h"
#include "launch/config_schema.h"
#include "model/transformer.h"

namespace sy {

int eval_command(const CliCommand& cmd) {
  CheckpointReader reader(cmd.ckpt);
  const Config cfg = stored_config(reader, cmd.overrides);
  auto be = make_cpu_backend<float>(cfg.parallel.threads, cfg.train.precision);
  Transformer<float> model(cfg.model, cfg.moe);
  load_parameters(reader, model.params());
  auto data = make_data_source(cfg.data.source, cfg.model.vocab_size);
  const int64_t T = cfg.train.seq_len;
  data->validate(T);

  int64_t windows = data->num_windows(T);
  if (cfg.eval.max_windows > 0 && cfg.eval.max_windows < windows) windows = cfg.eval.max_windows;
  std::printf("eval: %s, step %lld, %s, %lld windows of %lld tokens\n", reader.dir().c_str(),
              (long long)reader.meta().trainer.step, data->describe().c_str(), (long long)windows, (long long)T);

  // Windows are evaluated micro_batch at a time; eval is dropless and noise-free.
  LocalDispatcher<float> dispatcher;
  const int64_t B = cfg.train.micro_batch;
  std::vector<int32_t> tokens(B * (T + 1));
  double ce_sum = 0;
  int64_t count = 0;
  for (int64_t first = 0; first < windows; first += B) {
    const int64_t n = std::min(B, windows - first);
    for (int64_t i = 0; i < n; ++i) data->window(first + i, T, tokens.data() + i * (T + 1));
    StepContext ctx;
    ctx.batch = n;
    ctx.seq_len = T;
    ctx.training = false;
    const MicroBatchLoss l = model.forward_loss(be, ctx, tokens.data(), dispatcher);
    ce_sum += l.ce_sum;
    count += l.tokens;
  }
  if (count == 0) throw DataError(cfg.data.source + ": no full evaluation window of " + std::to_string(T + 1) + " tokens");
  std::printf("loss=%.8g tokens=%lld\n", ce_sum / double(count), (long long)count);
  return 0;
}

}  // namespace sy
