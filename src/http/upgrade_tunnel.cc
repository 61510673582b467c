#include "http/upgrade_tunnel.h"

#include <vector>

namespace minik::http::tunnel {

namespace {

enum FrameType : uint8_t { kOpen = 1, kData = 2, kEnd = 3, kReset = 4, kCredit = 5, kPing = 6, kPong = 7 };
constexpr uint32_t kMaxFrame = 1 << 20;

void Put32(std::string* out, uint32_t v) {
  out->push_back(static_cast<char>(v >> 24));
  out->push_back(static_cast<char>((v >> 16) & 0xff));
  out->push_back(static_cast<char>((v >> 8) & 0xff));
  out->push_back(static_cast<char>(v & 0xff));
}

uint32_t Get32(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  return (uint32_t{u[0]} << 24) | (uint32_t{u[1]} << 16) | (uint32_t{u[2]} << 8) | u[3];
}

}  // namespace

// ---- Stream ---------------------------------------------------------------------------------

Stream::~Stream() {
  cbs_ = Callbacks();
  on_writable_ = nullptr;
  if (mux_ == nullptr) return;
  if (local_end_ && !end_sent_) {
    // Ended with data still waiting for credit: an orphan owned by the mux sends the rest and the
    // END, then goes away.
    std::unique_ptr<Stream> orphan(new Stream(mux_, id_, std::string()));
    orphan->pending_ = std::move(pending_);
    orphan->pending_bytes_ = pending_bytes_;
    orphan->send_credit_ = send_credit_;
    orphan->received_unacked_ = received_unacked_;
    orphan->recv_window_left_ = recv_window_left_;
    orphan->local_end_ = true;
    orphan->remote_end_ = remote_end_;
    orphan->orphan_ = true;
    mux_->streams_[id_] = orphan.get();
    mux_->orphans_[id_] = std::move(orphan);
    mux_ = nullptr;
    return;
  }
  if (!(end_sent_ && remote_end_)) mux_->SendFrame(kReset, id_, "stream closed");
  mux_->streams_.erase(id_);
  mux_ = nullptr;
}

bool Stream::Write(uint8_t channel, std::string_view data) {
  if (mux_ == nullptr || local_end_) return false;
  do {
    size_t n = std::min(data.size(), kMaxDataFrame);
    std::string p;
    p.reserve(n + 1);
    p.push_back(static_cast<char>(channel));
    p.append(data.substr(0, n));
    data.remove_prefix(n);
    pending_bytes_ += p.size();
    pending_.push_back(std::move(p));
  } while (!data.empty());
  Flush();
  return true;
}

void Stream::Flush() {
  if (mux_ == nullptr) return;
  bool had = pending_bytes_ > 0;
  while (!pending_.empty() && send_credit_ > 1) {
    std::string& front = pending_.front();
    if (front.size() <= send_credit_) {
      send_credit_ -= front.size();
      pending_bytes_ -= front.size();
      mux_->SendFrame(kData, id_, front);
      pending_.pop_front();
    } else {
      // Split: the channel byte goes with both parts.
      size_t n = static_cast<size_t>(send_credit_);
      std::string part = front.substr(0, n);
      front.erase(1, n - 1);
      pending_bytes_ -= n - 1;
      send_credit_ = 0;
      mux_->SendFrame(kData, id_, part);
    }
  }
  if (pending_.empty() && local_end_ && !end_sent_) {
    end_sent_ = true;
    mux_->SendFrame(kEnd, id_, "");
    if (orphan_) {
      // Done: the mux drops this orphan (the last thing this call does).
      Mux* m = mux_;
      m->streams_.erase(id_);
      mux_ = nullptr;
      auto self = std::move(m->orphans_[id_]);
      m->orphans_.erase(id_);
      return;
    }
  }
  if (had && pending_bytes_ == 0 && on_writable_) {
    auto fn = on_writable_;
    fn();
  }
}

void Stream::End() {
  if (mux_ == nullptr || local_end_) return;
  local_end_ = true;
  Flush();
}

void Stream::Reset(std::string_view reason) {
  cbs_ = Callbacks();
  if (mux_ == nullptr) return;
  mux_->SendFrame(kReset, id_, reason);
  mux_->streams_.erase(id_);
  mux_ = nullptr;
  pending_.clear();
  pending_bytes_ = 0;
}

void Stream::ResumeReading() {
  paused_ = false;
  if (mux_ != nullptr && received_unacked_ > 0) {
    std::string p;
    Put32(&p, static_cast<uint32_t>(received_unacked_));
    recv_window_left_ += received_unacked_;
    received_unacked_ = 0;
    mux_->SendFrame(kCredit, id_, p);
  }
}

void Stream::Died(const Status& why) {
  mux_ = nullptr;
  pending_.clear();
  pending_bytes_ = 0;
  auto fn = std::move(cbs_.on_reset);
  cbs_ = Callbacks();
  if (fn) fn(why);
}

// ---- Mux ------------------------------------------------------------------------------------

Mux::Mux(ByteStreamPtr conn, bool initiator)
    : conn_(std::move(conn)), initiator_(initiator), next_id_(initiator ? 1 : 2) {
  remote_ = conn_ ? conn_->remote_address() : std::string();
}

Mux::~Mux() {
  *alive_ = false;
  cbs_ = Callbacks();
  Shutdown(Status::Unavailable("tunnel closed"));
}

void Mux::Start(Callbacks cbs) {
  cbs_ = std::move(cbs);
  std::weak_ptr<bool> alive = alive_;
  ByteStream::Callbacks bc;
  bc.on_data = [this, alive](std::string_view d) {
    auto a = alive.lock();
    if (a && *a) OnData(d);
  };
  bc.on_close = [this, alive](const Status& st) {
    auto a = alive.lock();
    if (!a || !*a) return;
    Shutdown(st.ok() ? Status::Unavailable("tunnel closed") : st);
  };
  conn_->Start(std::move(bc));
}

void Mux::Shutdown(const Status& why) {
  if (conn_ == nullptr) return;
  auto conn = std::move(conn_);
  conn_ = nullptr;
  conn->Close();
  pings_.clear();
  std::weak_ptr<bool> alive = alive_;
  std::vector<uint32_t> ids;
  for (auto& [id, s] : streams_) ids.push_back(id);
  for (uint32_t id : ids) {
    auto it = streams_.find(id);
    if (it == streams_.end()) continue;
    Stream* s = it->second;
    streams_.erase(it);
    s->Died(why);
    auto a = alive.lock();
    if (!a) return;  // destroyed from a callback (only possible when *a was true)
  }
  orphans_.clear();
  auto fn = std::move(cbs_.on_close);
  cbs_ = Callbacks();
  if (fn && *alive_) fn(why);
}

StreamPtr Mux::Open(std::string header) {
  uint32_t id = next_id_;
  next_id_ += 2;
  SendFrame(kOpen, id, header);
  StreamPtr s(new Stream(conn_ ? this : nullptr, id, std::move(header)));
  if (conn_) streams_[id] = s.get();
  return s;
}

void Mux::Ping(std::function<void()> on_pong) {
  if (conn_ == nullptr) return;
  uint32_t id = next_ping_++;
  pings_[id] = std::move(on_pong);
  std::string p;
  Put32(&p, id);
  SendFrame(kPing, 0, p);
}

void Mux::SendFrame(uint8_t type, uint32_t id, std::string_view payload) {
  if (conn_ == nullptr) return;
  std::string f;
  f.reserve(9 + payload.size());
  f.push_back(static_cast<char>(type));
  Put32(&f, id);
  Put32(&f, static_cast<uint32_t>(payload.size()));
  f.append(payload);
  conn_->Write(std::move(f));
}

void Mux::OnData(std::string_view data) {
  buf_.append(data);
  std::weak_ptr<bool> alive = alive_;
  while (conn_ != nullptr && buf_.size() - off_ >= 9) {
    const char* p = buf_.data() + off_;
    uint8_t type = static_cast<uint8_t>(p[0]);
    uint32_t id = Get32(p + 1);
    uint32_t len = Get32(p + 5);
    if (len > kMaxFrame) {
      Shutdown(Status::BadRequest("tunnel: frame too large"));
      return;
    }
    if (buf_.size() - off_ < 9 + len) break;
    std::string payload(p + 9, len);
    off_ += 9 + len;
    HandleFrame(type, id, std::move(payload));
    auto a = alive.lock();
    if (!a || !*a) return;
  }
  if (off_ == buf_.size()) {
    buf_.clear();
    off_ = 0;
  } else if (off_ > 64 * 1024) {
    buf_.erase(0, off_);
    off_ = 0;
  }
}

void Mux::HandleFrame(uint8_t type, uint32_t id, std::string&& payload) {
  if (type == kPing) {
    SendFrame(kPong, 0, payload);
    return;
  }
  if (type == kPong) {
    if (payload.size() < 4) return;
    auto it = pings_.find(Get32(payload.data()));
    if (it == pings_.end()) return;
    auto fn = std::move(it->second);
    pings_.erase(it);
    if (fn) fn();
    return;
  }
  if (type == kOpen) {
    bool theirs = (id & 1) == (initiator_ ? 0u : 1u);
    if (!theirs || streams_.count(id) || id == 0) {
      SendFrame(kReset, id, "invalid stream id");
      return;
    }
    StreamPtr s(new Stream(this, id, std::move(payload)));
    streams_[id] = s.get();
    if (cbs_.on_stream) {
      auto fn = cbs_.on_stream;
      fn(std::move(s));
    } else {
      s->Reset("no handler");
    }
    return;
  }
  auto it = streams_.find(id);
  if (it == streams_.end()) return;  // a stream this side already dropped
  Stream* s = it->second;
  switch (type) {
    case kData: {
      if (payload.empty()) return;
      if (payload.size() > s->recv_window_left_) {
        s->Reset("flow control violated");
        s->Died(Status::BadRequest("tunnel: peer exceeded its credit"));
        return;
      }
      s->recv_window_left_ -= payload.size();
      s->received_unacked_ += payload.size();
      if (!s->paused_ && s->received_unacked_ >= kInitialWindow / 4) s->ResumeReading();
      if (s->cbs_.on_data) {
        auto fn = s->cbs_.on_data;
        fn(static_cast<uint8_t>(payload[0]), std::string_view(payload).substr(1));
      }
      return;
    }
    case kEnd: {
      s->remote_end_ = true;
      if (s->cbs_.on_end) {
        auto fn = s->cbs_.on_end;
        fn();
      }
      return;
    }
    case kReset: {
      streams_.erase(it);
      s->Died(Status::Unavailable(payload.empty() ? "stream reset by peer" : payload));
      orphans_.erase(id);  // an orphan is dropped with its stream
      return;
    }
    case kCredit: {
      if (payload.size() < 4) return;
      s->send_credit_ += Get32(payload.data());
      s->Flush();
      return;
    }
    default:
      return;
  }
}

}  // namespace minik::http::tunnel
