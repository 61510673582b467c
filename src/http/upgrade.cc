#include "http/upgrade.h"

#include <strings.h>

#include "common/strings.h"
#include "http/upgrade_internal.h"

namespace minik::http {

bool HeaderHasToken(std::string_view value, std::string_view token) {
  for (auto part : Split(value, ',')) {
    part = Trim(part);
    if (part.size() == token.size() && strncasecmp(part.data(), token.data(), token.size()) == 0) return true;
  }
  return false;
}

namespace internal {

UpgradedStream::~UpgradedStream() {
  cbs_ = Callbacks();
  if (t_ != nullptr) {
    Transport* t = t_;
    Detach();
    t->CloseAfterFlush(/*linger=*/true);
  }
}

void ForwardUnparsed(UpgradedStream* upgraded, std::string* in, size_t* in_off) {
  if (upgraded != nullptr && *in_off < in->size()) {
    std::string data = *in_off == 0 ? std::move(*in) : in->substr(*in_off);
    in->clear();
    *in_off = 0;
    upgraded->OnData(data);
  } else {
    in->clear();
    *in_off = 0;
  }
}

void UpgradedStream::Detach() {
  t_ = nullptr;
  if (on_destroy) {
    auto fn = std::move(on_destroy);
    on_destroy = nullptr;
    fn();
  }
}

void UpgradedStream::Start(Callbacks cbs) {
  cbs_ = std::move(cbs);
  started_ = true;
  if (!pending_.empty()) {
    std::string p;
    p.swap(pending_);
    if (cbs_.on_data) {
      auto fn = cbs_.on_data;  // the callback may destroy this stream
      fn(p);
      return;
    }
  }
  if (ended_) {
    auto fn = std::move(cbs_.on_close);
    cbs_ = Callbacks();
    if (fn) fn(end_status_);
  }
}

void UpgradedStream::Write(std::string data) {
  if (t_ != nullptr && !data.empty()) t_->Write(std::move(data));
}

size_t UpgradedStream::Buffered() const { return t_ != nullptr ? t_->Buffered() : 0; }

void UpgradedStream::PauseReading() {
  paused_ = true;
  if (t_ != nullptr) t_->PauseReading();
}

void UpgradedStream::ResumeReading() {
  paused_ = false;
  if (t_ != nullptr) t_->ResumeReading();
}

void UpgradedStream::Close() {
  cbs_ = Callbacks();
  if (t_ == nullptr) return;
  Transport* t = t_;
  Detach();
  t->CloseAfterFlush(/*linger=*/true);
}

void UpgradedStream::OnData(std::string_view data) {
  if (!started_) {
    pending_.append(data);
    return;
  }
  if (cbs_.on_data) {
    auto fn = cbs_.on_data;  // a copy: the callback may destroy this stream
    fn(data);
  }
}

void UpgradedStream::OnTransportClosed(const Status& why) {
  t_ = nullptr;
  on_destroy = nullptr;
  if (!started_) {
    ended_ = true;
    end_status_ = why;
    return;
  }
  auto fn = std::move(cbs_.on_close);
  cbs_ = Callbacks();
  if (fn) fn(why);
}

}  // namespace internal
}  // namespace minik::http
