#include "agent/runtime/shim_image.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

// MINIK_SHIM_IMAGE is the path of the static shim executable, set by the build. ccache does not
// cache a file with an .incbin directive, so a rebuilt shim is always embedded afresh.
#ifdef MINIK_SHIM_IMAGE
__asm__(
    "  .section .rodata.minik_shim,\"a\",@progbits\n"
    "  .balign 64\n"
    "minik_shim_image_begin:\n"
    "  .incbin \"" MINIK_SHIM_IMAGE "\"\n"
    "minik_shim_image_end:\n"
    "  .previous\n");
extern "C" const char minik_shim_image_begin[] __asm__("minik_shim_image_begin");
extern "C" const char minik_shim_image_end[] __asm__("minik_shim_image_end");
#endif

extern char** environ;

namespace minik::agent::runtime {

std::string_view EmbeddedShim() {
#ifdef MINIK_SHIM_IMAGE
  return std::string_view(minik_shim_image_begin, static_cast<size_t>(minik_shim_image_end - minik_shim_image_begin));
#else
  return {};
#endif
}

StatusOr<int> OpenEmbeddedShim() {
  std::string_view image = EmbeddedShim();
  if (image.empty()) return Status::Unavailable("this minik build has no embedded shim");
  int fd = memfd_create("minik-shim", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (fd < 0) return Status::Internal(std::string("memfd_create: ") + std::strerror(errno));
  size_t off = 0;
  while (off < image.size()) {
    ssize_t w = write(fd, image.data() + off, image.size() - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      int saved = errno;
      close(fd);
      return Status::Internal(std::string("writing the shim: ") + std::strerror(saved));
    }
    off += static_cast<size_t>(w);
  }
  // Copying touched the image's pages of this binary: give them back (clean file pages, they
  // fault in again if ever read), or the agent would keep the shim's size resident for nothing.
  uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  uintptr_t from = (reinterpret_cast<uintptr_t>(image.data()) + page - 1) & ~(page - 1);
  uintptr_t to = (reinterpret_cast<uintptr_t>(image.data()) + image.size()) & ~(page - 1);
  if (to > from) madvise(reinterpret_cast<void*>(from), to - from, MADV_DONTNEED);
  if (fchmod(fd, 0555) != 0 ||
      fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
    int saved = errno;
    close(fd);
    return Status::Internal(std::string("sealing the shim: ") + std::strerror(saved));
  }
  return fd;
}

Status ExecEmbeddedShim(const std::vector<std::string>& args) {
  auto fd = OpenEmbeddedShim();
  if (!fd.ok()) return fd.status();
  std::vector<std::string> words = {"minik", "shim"};
  words.insert(words.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  std::string path = "/proc/self/fd/" + std::to_string(*fd);
  execve(path.c_str(), argv.data(), environ);
  int saved = errno;
  close(*fd);
  return Status::Internal("executing the embedded shim: " + std::string(std::strerror(saved)));
}

}  // namespace minik::agent::runtime
