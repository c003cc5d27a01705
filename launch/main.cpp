// launch/main.cpp — the switchyard binary (placeholder until the CLI lands).
#include <cstdio>

int main() {
  std::puts("switchyard: not yet");
  return 0;
}
