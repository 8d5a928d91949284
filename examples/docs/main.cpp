// Runs every example shown in docs/, so that the documentation's code is compiled and executed.
#include <cstdio>
#include <exception>

int example_loss();
int example_ema();
int example_lars();
int example_schedule();
int example_heads();
int example_learner();
int example_eval();
int example_checkpoint();
int example_data();
int example_models();
int example_augment();
int example_train_state();

int main() {
  struct Entry {
    const char* name;
    int (*run)();
  };
  const Entry entries[] = {{"loss", example_loss},         {"ema", example_ema},     {"lars", example_lars},
                           {"schedule", example_schedule}, {"heads", example_heads}, {"learner", example_learner},
                           {"eval", example_eval},         {"checkpoint", example_checkpoint},
                           {"data", example_data},         {"models", example_models},
                           {"augment", example_augment},   {"train_state", example_train_state}};
  int failures = 0;
  for (const auto& e : entries) {
    try {
      const int rc = e.run();
      std::printf("%-11s %s\n", e.name, rc == 0 ? "ok" : "FAILED");
      failures += rc != 0;
    } catch (const std::exception& ex) {
      std::printf("%-11s threw: %s\n", e.name, ex.what());
      ++failures;
    }
  }
  return failures == 0 ? 0 : 1;
}
