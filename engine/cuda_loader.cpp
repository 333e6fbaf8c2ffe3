// dlopen of libfolio_cuda.so: looked for beside the executable (../lib, the build tree's
// and the install's layout), then by the loader's own search (LD_LIBRARY_PATH, rpath).
#include "engine/cuda_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <mutex>

#include "engine/cuda_module.h"

namespace folio {
namespace {

struct Module {
  FolioCudaUnavailableFn unavailable = nullptr;
  FolioCudaOpenFn open = nullptr;
  FolioCudaOpenCheckpointFn open_checkpoint = nullptr;
  std::string error;  // why it did not load
};

std::string ExecutableDir() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

Module Load() {
  Module m;
  void* h = nullptr;
  const std::string dir = ExecutableDir();
  // Installed: <prefix>/lib/folio/ (the folio-cuda package); build tree: build/lib/.
  for (const char* rel : {"/../lib/folio/", "/../lib/"}) {
    if (h || dir.empty()) break;
    h = dlopen((dir + rel + kCudaModuleName).c_str(), RTLD_NOW | RTLD_LOCAL);
  }
  if (!h) h = dlopen(kCudaModuleName, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char* e = dlerror();
    m.error = std::string("the CUDA backend is not available (") + (e ? e : kCudaModuleName) + ")";
    return m;
  }
  auto abi = reinterpret_cast<FolioCudaAbiFn>(dlsym(h, "folio_cuda_abi"));
  const long want = kCudaModuleAbi * 1000003L + static_cast<long>(sizeof(CudaBackendOptions));
  if (!abi || abi() != want) {
    m.error = std::string(kCudaModuleName) + " is from another build of Folio";
    return m;  // the handle stays open: unloading CUDA libraries at run time is not worth the risk
  }
  m.unavailable =
      reinterpret_cast<FolioCudaUnavailableFn>(dlsym(h, "folio_cuda_unavailable_reason"));
  m.open = reinterpret_cast<FolioCudaOpenFn>(dlsym(h, "folio_cuda_open"));
  m.open_checkpoint =
      reinterpret_cast<FolioCudaOpenCheckpointFn>(dlsym(h, "folio_cuda_open_checkpoint"));
  if (!m.unavailable || !m.open || !m.open_checkpoint)
    m.error = std::string(kCudaModuleName) + " lacks its entry points";
  return m;
}

const Module& GetModule() {
  static const Module module = Load();  // thread-safe, once per process
  return module;
}

}  // namespace

std::string CudaUnavailable() {
  const Module& m = GetModule();
  if (!m.error.empty()) return m.error + "; use --device cpu";
  std::string why;
  m.unavailable(&why);
  return why;
}

Result<std::unique_ptr<Backend>> OpenCudaBackend(const std::string& dir,
                                                 const CudaBackendOptions& options) {
  const std::string why = CudaUnavailable();
  if (!why.empty()) return Unsupported(why);
  Backend* raw = nullptr;
  Status st;
  if (GetModule().open(dir.c_str(), &options, &raw, &st) != 0) return st;
  return std::unique_ptr<Backend>(raw);
}

Result<std::unique_ptr<Backend>> OpenCudaBackendFor(std::shared_ptr<const Checkpoint> checkpoint,
                                                    const CudaBackendOptions& options) {
  if (!checkpoint) return InvalidArgument("no checkpoint given to the CUDA backend");
  const std::string why = CudaUnavailable();
  if (!why.empty()) return Unsupported(why);
  Backend* raw = nullptr;
  Status st;
  // The module keeps its own reference for as long as the backend lives.
  if (GetModule().open_checkpoint(&checkpoint, &options, &raw, &st) != 0) return st;
  return std::unique_ptr<Backend>(raw);
}

}  // namespace folio
