// A small command-line parser for the examples: --name value / --name=value / --switch, every
// flag declared with its default and a line of help, and --help printing them all.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace byol_examples {

class Flags {
 public:
  explicit Flags(std::string usage) : usage_(std::move(usage)) {}

  int64_t& add(const std::string& name, int64_t value, const std::string& help) {
    ints_[name] = value;
    declare_(name, std::to_string(value), help, Kind::integer);
    return ints_[name];
  }
  double& add(const std::string& name, double value, const std::string& help) {
    doubles_[name] = value;
    std::ostringstream s;
    s << value;
    declare_(name, s.str(), help, Kind::real);
    return doubles_[name];
  }
  std::string& add(const std::string& name, const std::string& value, const std::string& help) {
    strings_[name] = value;
    declare_(name, value.empty() ? "\"\"" : value, help, Kind::text);
    return strings_[name];
  }
  bool& add_switch(const std::string& name, const std::string& help) {
    switches_[name] = false;
    declare_(name, "off", help, Kind::toggle);
    return switches_[name];
  }

  /// Parses argv; prints help and exits 0 on --help, prints the problem and exits 2 on bad input.
  void parse(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
      std::string arg = argv[i];
      if (arg == "--help" || arg == "-h") {
        print_help(std::cout);
        std::exit(0);
      }
      if (arg.rfind("--", 0) != 0) fail_("unexpected argument '" + arg + "'");
      std::string name = arg.substr(2), value;
      const auto eq = name.find('=');
      const bool inline_value = eq != std::string::npos;
      if (inline_value) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const auto kind = kinds_.find(name);
      if (kind == kinds_.end()) fail_("unknown flag --" + name);
      if (kind->second == Kind::toggle) {
        if (inline_value) fail_("--" + name + " takes no value");
        switches_[name] = true;
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= argc) fail_("--" + name + " needs a value");
        value = argv[++i];
      }
      try {
        size_t used = 0;
        switch (kind->second) {
          case Kind::integer:
            ints_[name] = std::stoll(value, &used);
            break;
          case Kind::real:
            doubles_[name] = std::stod(value, &used);
            break;
          default:
            strings_[name] = value;
            used = value.size();
        }
        if (used != value.size()) throw std::invalid_argument(value);
      } catch (const std::exception&) {
        fail_("--" + name + " got '" + value + "', which is not a valid " +
              (kind->second == Kind::integer ? "integer" : "number"));
      }
    }
  }

  void print_help(std::ostream& out) const {
    out << usage_ << "\n\nflags:\n";
    for (const auto& f : order_) {
      out << "  --" << std::left << std::setw(20) << f.name << " " << f.help << " (default: " << f.value << ")\n";
    }
    out << "  --" << std::left << std::setw(20) << "help" << " print this list and exit\n";
  }

 private:
  enum class Kind { integer, real, text, toggle };
  struct Entry {
    std::string name, value, help;
  };
  void declare_(const std::string& name, const std::string& value, const std::string& help, Kind kind) {
    kinds_[name] = kind;
    order_.push_back({name, value, help});
  }
  [[noreturn]] void fail_(const std::string& message) const {
    std::cerr << "error: " << message << " (see --help)\n";
    std::exit(2);
  }

  std::string usage_;
  std::vector<Entry> order_;
  std::map<std::string, Kind> kinds_;
  std::map<std::string, int64_t> ints_;
  std::map<std::string, double> doubles_;
  std::map<std::string, std::string> strings_;
  std::map<std::string, bool> switches_;
};

/// LibTorch's thread count for the examples: the flag when > 0, else OMP_NUM_THREADS, else all cores.
inline int choose_threads(int64_t flag) {
  if (flag > 0) return static_cast<int>(flag);
  const char* omp = std::getenv("OMP_NUM_THREADS");
  if (omp != nullptr && std::atoi(omp) > 0) return std::atoi(omp);
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

}  // namespace byol_examples
