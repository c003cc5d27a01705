// bench/ckpt_throughput.cpp — checkpoint save/load throughput (≥ 1 GB of state) as a ratio to plain fwrite+fsync / fread of the same bytes.
//
// The state is shaped like a real MoE model's: every layer is an MoE layer
// (fairseq names, DESIGN.md §5), parameters + exp_avg + exp_avg_sq, dense
// tensors in model-shared.h5 and the experts spread over --ep rank files.  One
// process writes all of it: begin_checkpoint, write_shared_file, write_rank_file
// for every N, commit_checkpoint (the same calls save_checkpoint makes), then
// reads it back with CheckpointReader::load for the three sections.
//
// Baseline: the same bytes, grouped into the same files (one file per
// checkpoint file, one fwrite per tensor), in the same directory, fwrite + fsync
// each file; read back with one fread per tensor into the same buffers.
//
// Reads come from disk, not the page cache: after every write (checkpoint and
// baseline alike) each file is fsynced and then posix_fadvise(POSIX_FADV_DONTNEED)
// drops its (now clean) pages.  This is outside the timed region.
//
// Work formula for every row: bytes = total float32 bytes of the state
// (4 × numel, summed over the three sections); GB/s = bytes / time / 1e9.
// HDF5 metadata, attributes and checksums are not counted as work — they are
// the checkpoint's overhead, which the ratio is meant to show.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/harness.h"
#include "io/checkpoint_commit.h"
#include "io/checkpoint_reader.h"
#include "io/checkpoint_writer.h"
#include "runtime/error.h"

namespace fs = std::filesystem;
using sy::NamedTensor;
using sy::Shape;

namespace {

struct Args {
  fs::path dir = "/tmp/sy-ckpt-throughput";
  int reps = 3;
  int warmup = 1;   // discarded repetitions (the first touch of fresh memory pages is slow on a VM)
  int layers = 4;   // every layer MoE; 4 layers ≈ 1.1 GB of state
  int ep = 4;       // rank files
  int experts = 16;
  int d_model = 1024;
  int d_ff = 512;   // per expert
  int vocab = 8192;
  bool json = false;
};

[[noreturn]] void usage(const char* prog, const std::string& error) {
  if (!error.empty()) std::fprintf(stderr, "%s: %s\n", prog, error.c_str());
  std::fprintf(stderr,
               "usage: %s [--dir PATH] [--reps N] [--warmup N] [--layers N] [--ep N] [--experts N] [--d-model N] [--d-ff N]\n"
               "          [--vocab N] [--json]\n"
               "  --dir     working directory on the disk to measure (created, removed after) [/tmp/sy-ckpt-throughput]\n",
               prog);
  std::exit(error.empty() ? 0 : 2);
}

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string f = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(argv[0], f + " needs a value");
      return argv[++i];
    };
    auto integer = [&](long least) {
      std::string v = value();
      char* end = nullptr;
      long x = std::strtol(v.c_str(), &end, 10);
      if (v.empty() || *end != '\0' || x < least || x > 1 << 20)
        usage(argv[0], f + (least > 0 ? " wants a positive integer" : " wants a non-negative integer"));
      return static_cast<int>(x);
    };
    auto positive = [&]() { return integer(1); };
    if (f == "--dir") a.dir = value();
    else if (f == "--reps") a.reps = positive();
    else if (f == "--warmup") a.warmup = integer(0);
    else if (f == "--layers") a.layers = positive();
    else if (f == "--ep") a.ep = positive();
    else if (f == "--experts") a.experts = positive();
    else if (f == "--d-model") a.d_model = positive();
    else if (f == "--d-ff") a.d_ff = positive();
    else if (f == "--vocab") a.vocab = positive();
    else if (f == "--json") a.json = true;
    else if (f == "-h" || f == "--help") usage(argv[0], "");
    else usage(argv[0], "unknown flag '" + f + "'");
  }
  if (a.experts % a.ep != 0) usage(argv[0], "--experts must be a multiple of --ep");
  return a;
}

// Names and shapes of one section (fairseq keys, every layer MoE, tied embeddings).
struct Spec {
  std::string name;
  Shape shape;
  int expert = -1;
};

std::vector<Spec> model_spec(const Args& a) {
  const int64_t d = a.d_model, f = a.d_ff;
  std::vector<Spec> s;
  s.push_back({"decoder/embed_tokens/weight", {a.vocab, d}});
  for (int l = 0; l < a.layers; ++l) {
    const std::string p = "decoder/layers/" + std::to_string(l) + "/";
    for (const char* proj : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
      s.push_back({p + "self_attn/" + proj + "/weight", {d, d}});
      s.push_back({p + "self_attn/" + proj + "/bias", {d}});
    }
    for (const char* ln : {"self_attn_layer_norm", "final_layer_norm"}) {
      s.push_back({p + ln + "/weight", {d}});
      s.push_back({p + ln + "/bias", {d}});
    }
    s.push_back({p + "moe_layer/gate/wg/weight", {a.experts, d}});
    for (int e = 0; e < a.experts; ++e) {
      const std::string x = p + "moe_layer/experts/" + std::to_string(e) + "/";
      s.push_back({x + "fc1/weight", {f, d}, e});
      s.push_back({x + "fc1/bias", {f}, e});
      s.push_back({x + "fc2/weight", {d, f}, e});
      s.push_back({x + "fc2/bias", {d}, e});
    }
  }
  s.push_back({"decoder/layer_norm/weight", {d}});
  s.push_back({"decoder/layer_norm/bias", {d}});
  return s;
}

// The three sections' tensors over one buffer each (so the baseline can write
// exactly the same memory).
struct State {
  std::vector<std::vector<float>> buf;  // [section][tensor] flattened per section
  sy::CheckpointTensors t;
  int64_t bytes = 0;
};

State make_state(const std::vector<Spec>& spec, uint32_t seed) {
  State st;
  int64_t numel = 0;
  for (const Spec& s : spec) numel += sy::shape_numel(s.shape);
  st.buf.assign(3, std::vector<float>(numel));
  std::vector<NamedTensor>* lists[3] = {&st.t.model, &st.t.exp_avg, &st.t.exp_avg_sq};
  for (int sec = 0; sec < 3; ++sec) {
    // Cheap varied values (an LCG) so no page is all zeros.
    uint32_t x = seed + 7919u * sec;
    for (float& v : st.buf[sec]) {
      x = x * 1664525u + 1013904223u;
      v = static_cast<float>(static_cast<int32_t>(x)) * 1e-9f;
    }
    int64_t off = 0;
    for (const Spec& s : spec) {
      lists[sec]->push_back({s.name, s.shape, st.buf[sec].data() + off, s.expert});
      off += sy::shape_numel(s.shape);
    }
  }
  st.bytes = 3 * numel * static_cast<int64_t>(sizeof(float));
  return st;
}

// Which file (0 = shared, 1 + N = rank file N) a tensor goes to, as the checkpoint does.
int file_of(const Spec& s, int experts_per_file) { return s.expert < 0 ? 0 : 1 + s.expert / experts_per_file; }

using Clock = std::chrono::steady_clock;

// CPU seconds (user + system, all threads) of this process: less sensitive than
// wall time to other load on a shared machine, so the rep lines print both.
double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}
double g_cpu_start = 0, g_last_cpu = 0;  // CPU seconds of the last timed call

double seconds_since(Clock::time_point t0) {
  g_last_cpu = cpu_seconds() - g_cpu_start;
  return std::chrono::duration<double>(Clock::now() - t0).count();
}
Clock::time_point start_timer() {
  g_cpu_start = cpu_seconds();
  return Clock::now();
}

void check_posix(bool ok, const std::string& what, const fs::path& p) {
  if (!ok) throw sy::DataError(what + " " + p.string() + ": " + std::strerror(errno));
}

// Drops a (synced) file's pages from the page cache so the next read hits the disk.
void drop_cache(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY);
  check_posix(fd >= 0, "open", p);
  ::fdatasync(fd);  // no-op for files already fsynced; makes every page clean
  int rc = ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  ::close(fd);
  if (rc != 0) throw sy::DataError("posix_fadvise " + p.string() + ": " + std::strerror(rc));
}
void drop_cache_tree(const fs::path& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file()) drop_cache(e.path());
}

// ---- checkpoint ----
double ckpt_save(const fs::path& dir, const sy::CheckpointMeta& meta, const State& st, fs::path* out) {
  auto t0 = start_timer();
  fs::path partial = sy::begin_checkpoint(dir, meta.trainer.step);
  sy::write_shared_file(partial, meta, st.t);
  for (int64_t n = 0; n < meta.ep_size; ++n) sy::write_rank_file(partial, n, meta, st.t);
  *out = sy::commit_checkpoint(dir, meta.trainer.step, /*keep=*/0);
  return seconds_since(t0);
}

double ckpt_load(const fs::path& step_dir, State& dst) {
  auto t0 = start_timer();
  sy::CheckpointReader r(step_dir);
  r.load(dst.t.model, sy::TensorSection::model);
  r.load(dst.t.exp_avg, sy::TensorSection::exp_avg);
  r.load(dst.t.exp_avg_sq, sy::TensorSection::exp_avg_sq);
  return seconds_since(t0);
}

// ---- baseline: same files, same bytes, one fwrite/fread per tensor ----
std::vector<fs::path> plain_files(const fs::path& dir, int nfiles) {
  std::vector<fs::path> p;
  for (int i = 0; i < nfiles; ++i) p.push_back(dir / ("plain-" + std::to_string(i) + ".bin"));
  return p;
}

double plain_write(const std::vector<fs::path>& files, const std::vector<Spec>& spec, int epf, const State& st) {
  auto t0 = start_timer();
  const std::vector<NamedTensor>* lists[3] = {&st.t.model, &st.t.exp_avg, &st.t.exp_avg_sq};
  for (size_t fi = 0; fi < files.size(); ++fi) {
    FILE* f = std::fopen(files[fi].c_str(), "wb");
    check_posix(f != nullptr, "fopen", files[fi]);
    for (int sec = 0; sec < 3; ++sec)
      for (size_t i = 0; i < spec.size(); ++i) {
        if (file_of(spec[i], epf) != static_cast<int>(fi)) continue;
        const NamedTensor& t = (*lists[sec])[i];
        size_t n = static_cast<size_t>(sy::shape_numel(t.shape));
        check_posix(std::fwrite(t.data, sizeof(float), n, f) == n, "fwrite", files[fi]);
      }
    check_posix(std::fflush(f) == 0, "fflush", files[fi]);
    check_posix(::fsync(::fileno(f)) == 0, "fsync", files[fi]);
    check_posix(std::fclose(f) == 0, "fclose", files[fi]);
  }
  return seconds_since(t0);
}

double plain_read(const std::vector<fs::path>& files, const std::vector<Spec>& spec, int epf, State& dst) {
  auto t0 = start_timer();
  std::vector<NamedTensor>* lists[3] = {&dst.t.model, &dst.t.exp_avg, &dst.t.exp_avg_sq};
  for (size_t fi = 0; fi < files.size(); ++fi) {
    FILE* f = std::fopen(files[fi].c_str(), "rb");
    check_posix(f != nullptr, "fopen", files[fi]);
    for (int sec = 0; sec < 3; ++sec)
      for (size_t i = 0; i < spec.size(); ++i) {
        if (file_of(spec[i], epf) != static_cast<int>(fi)) continue;
        NamedTensor& t = (*lists[sec])[i];
        size_t n = static_cast<size_t>(sy::shape_numel(t.shape));
        check_posix(std::fread(t.data, sizeof(float), n, f) == n, "fread", files[fi]);
      }
    std::fclose(f);
  }
  return seconds_since(t0);
}

void expect_equal(const State& a, State& b, const char* what) {
  for (int sec = 0; sec < 3; ++sec) {
    if (std::memcmp(a.buf[sec].data(), b.buf[sec].data(), a.buf[sec].size() * sizeof(float)) != 0) {
      std::fprintf(stderr, "ckpt_throughput: %s read back different data (section %d)\n", what, sec);
      std::exit(1);
    }
    std::fill(b.buf[sec].begin(), b.buf[sec].end(), 0.0f);  // next read must really fill it
  }
}

sy::bench::Result result(const std::string& name, const std::string& shape, std::vector<double> t, int64_t bytes) {
  std::sort(t.begin(), t.end());
  size_t n = t.size();
  sy::bench::Result r;
  r.name = name;
  r.shape = shape;
  r.unit = sy::bench::Unit::bytes;
  r.threads = 1;
  r.samples = static_cast<int>(n);
  r.calls_per_sample = 1;
  r.median_s = n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
  r.min_s = t.front();
  r.rate_median = static_cast<double>(bytes) / r.median_s * 1e-9;
  r.rate_best = static_cast<double>(bytes) / r.min_s * 1e-9;
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0.0 : n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median over repetitions of baseline_time / checkpoint_time (= checkpoint rate ÷ baseline rate).
double paired_ratio(const std::vector<double>& baseline, const std::vector<double>& ckpt) {
  std::vector<double> r;
  for (size_t i = 0; i < ckpt.size(); ++i) r.push_back(baseline[i] / ckpt[i]);
  return median(r);
}

}  // namespace

int main(int argc, char** argv) {
  const Args a = parse_args(argc, argv);
  const int epf = a.experts / a.ep;
  const std::vector<Spec> spec = model_spec(a);
  const State src = make_state(spec, 12345);
  State dst = make_state(spec, 999);  // overwritten by every read

  sy::CheckpointMeta meta;
  meta.ep_size = a.ep;
  meta.experts_per_file = epf;
  meta.world_size = a.ep;
  meta.config = "[model]\n# ckpt_throughput synthetic state\n";
  meta.trainer.step = 100;

  if (fs::exists(a.dir) && !fs::is_empty(a.dir)) usage(argv[0], "--dir " + a.dir.string() + " exists and is not empty");
  fs::create_directories(a.dir);
  const fs::path ckdir = a.dir / "ckpt";
  const std::vector<fs::path> files = plain_files(a.dir, 1 + a.ep);

  std::printf("# state: %zu tensors x 3 sections, %.3f GB (%.3f GiB) float32, %d layers, %d experts over %d rank files"
              " + shared file; dir %s\n",
              spec.size(), src.bytes * 1e-9, src.bytes / double(1 << 30), a.layers, a.experts, a.ep,
              fs::absolute(a.dir).c_str());
  std::printf("# page cache: fsync then posix_fadvise(DONTNEED) on every file between write and read\n");

  std::vector<double> ts, tl, tw, tr;  // wall seconds per call
  std::vector<double> cs, cl, cw, cr;  // CPU seconds of the same calls
  try {
    for (int rep = -a.warmup; rep < a.reps; ++rep) {
      if (rep == 0)  // drop the warm-up repetitions
        for (auto* v : {&ts, &tl, &tw, &tr, &cs, &cl, &cw, &cr}) v->clear();
      // Alternate which goes first, so a load change hurts both alike.
      for (int k = 0; k < 2; ++k) {
        if ((rep + a.warmup + k) % 2 == 0) {
          fs::path step_dir;
          ts.push_back(ckpt_save(ckdir, meta, src, &step_dir));
          cs.push_back(g_last_cpu);
          drop_cache_tree(ckdir);
          tl.push_back(ckpt_load(step_dir, dst));
          cl.push_back(g_last_cpu);
          expect_equal(src, dst, "checkpoint");
          fs::remove_all(ckdir);
        } else {
          tw.push_back(plain_write(files, spec, epf, src));
          cw.push_back(g_last_cpu);
          for (const fs::path& p : files) drop_cache(p);
          tr.push_back(plain_read(files, spec, epf, dst));
          cr.push_back(g_last_cpu);
          expect_equal(src, dst, "fread");
          for (const fs::path& p : files) fs::remove(p);
        }
      }
      std::fprintf(stderr, "%s %d: save %.2fs load %.2fs fwrite %.2fs fread %.2fs (CPU %.2f %.2f %.2f %.2f s)\n", rep < 0 ? "warmup" : "rep",
                   rep, ts.back(), tl.back(), tw.back(), tr.back(), cs.back(), cl.back(), cw.back(), cr.back());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ckpt_throughput: %s\n", e.what());
    fs::remove_all(a.dir);
    return 1;
  }
  fs::remove_all(a.dir);

  sy::bench::Options opt;
  opt.warmup = a.warmup;
  opt.reps = a.reps;
  opt.min_sample_ms = 0;
  sy::bench::print_header("ckpt_throughput", opt);
  const std::string shape = std::to_string(1 + a.ep) + "files";
  std::vector<sy::bench::Result> rs = {result("ckpt.save", shape, ts, src.bytes), result("plain.fwrite_fsync", shape, tw, src.bytes),
                                       result("ckpt.load", shape, tl, src.bytes), result("plain.fread", shape, tr, src.bytes)};
  for (const auto& r : rs) {
    sy::bench::print_row(r);
    if (a.json) sy::bench::print_json("ckpt_throughput", r);
  }
  std::printf("RATIO save/fwrite=%.3f load/fread=%.3f (medians; target >= 0.8)\n", rs[0].rate_median / rs[1].rate_median,
              rs[2].rate_median / rs[3].rate_median);
  // Each repetition runs both back to back, so the per-repetition ratio cancels
  // most of the slow load drift of a shared machine.
  std::printf("CPU seconds (median): save %.3f fwrite+fsync %.3f load %.3f fread %.3f\n", median(cs), median(cw),
              median(cl), median(cr));
  std::printf("PAIRED save/fwrite=%.3f load/fread=%.3f (median of per-repetition ratios)\n", paired_ratio(tw, ts),
              paired_ratio(tr, tl));
  return 0;
}
