// launch/train_command.cpp — `switchyard train`: print the effective config, train, save.
#include <cstdio>

#include "launch/commands.h"
#include "launch/config_schema.h"
#include "comm/local_collectives.h"
#include "launch/signals.h"
#include "launch/trainer.h"

namespace sy {

int train_command(const CliCommand& cmd) {
  const Config& cfg = cmd.config;
  validate_world(cfg, 1);
  std::printf("# switchyard train: effective config\n%s\n", to_ini(cfg).c_str());
  install_preemption_handlers();
  LocalCollectives comm;
  Trainer trainer(cfg, comm);
  std::printf("data: %s\nmodel: %lld parameters\n", trainer.data().describe().c_str(),
              (long long)trainer.model().params().numel());
  std::fflush(stdout);
  trainer.run();
  return 0;
}

}  // namespace sy
