#include "http/websocket.h"

#include <openssl/rand.h>
#include <openssl/sha.h>
#include <strings.h>

#include <cstring>

#include "common/strings.h"

namespace minik::http::ws {

namespace {

constexpr char kGuid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool IsControl(Opcode op) { return (static_cast<uint8_t>(op) & 0x8) != 0; }

void AppendHeader(std::string* out, Opcode op, bool fin, size_t len, const uint8_t* mask_key) {
  out->push_back(static_cast<char>((fin ? 0x80 : 0) | static_cast<uint8_t>(op)));
  uint8_t mask_bit = mask_key ? 0x80 : 0;
  if (len < 126) {
    out->push_back(static_cast<char>(mask_bit | len));
  } else if (len <= 0xffff) {
    out->push_back(static_cast<char>(mask_bit | 126));
    out->push_back(static_cast<char>(len >> 8));
    out->push_back(static_cast<char>(len & 0xff));
  } else {
    out->push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((static_cast<uint64_t>(len) >> (8 * i)) & 0xff));
  }
  if (mask_key) out->append(reinterpret_cast<const char*>(mask_key), 4);
}

void AppendMasked(std::string* out, std::string_view data, const uint8_t* mask_key, size_t* pos) {
  size_t base = out->size();
  out->append(data);
  if (mask_key == nullptr) return;
  char* p = out->data() + base;
  for (size_t i = 0; i < data.size(); ++i, ++*pos) p[i] = static_cast<char>(p[i] ^ mask_key[*pos & 3]);
}

const std::string* FindHeader(const std::vector<std::pair<std::string, std::string>>& headers, std::string_view name) {
  for (const auto& [k, v] : headers) {
    if (k.size() == name.size() && strncasecmp(k.data(), name.data(), name.size()) == 0) return &v;
  }
  return nullptr;
}

}  // namespace

std::string AcceptKey(std::string_view key) {
  std::string in(key);
  in += kGuid;
  unsigned char md[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(in.data()), in.size(), md);
  return Base64Encode(std::string_view(reinterpret_cast<const char*>(md), sizeof(md)));
}

std::string EncodeFrame(Opcode op, std::string_view payload, bool fin, const uint8_t* mask_key) {
  std::string out;
  out.reserve(payload.size() + 14);
  AppendHeader(&out, op, fin, payload.size(), mask_key);
  size_t pos = 0;
  AppendMasked(&out, payload, mask_key, &pos);
  return out;
}

std::string ClosePayload(uint16_t code, std::string_view reason) {
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p.append(reason.substr(0, 123));
  return p;
}

Status Decoder::Feed(std::string_view data, std::vector<Message>* out, uint16_t* close_code) {
  buf_.append(data);
  for (;;) {
    size_t avail = buf_.size() - off_;
    const auto* p = reinterpret_cast<const uint8_t*>(buf_.data() + off_);
    if (avail < 2) break;
    bool fin = (p[0] & 0x80) != 0;
    if ((p[0] & 0x70) != 0) {
      *close_code = kCloseProtocolError;
      return Status::BadRequest("websocket: reserved bits set");
    }
    auto op = static_cast<Opcode>(p[0] & 0x0f);
    bool masked = (p[1] & 0x80) != 0;
    uint64_t len = p[1] & 0x7f;
    size_t hdr = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t{p[2]} << 8) | p[3];
      hdr = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      hdr = 10;
    }
    if (masked != server_) {
      *close_code = kCloseProtocolError;
      return Status::BadRequest(server_ ? "websocket: client frame not masked" : "websocket: server frame masked");
    }
    uint8_t op_bits = static_cast<uint8_t>(op);
    bool known = op_bits <= 2 || (op_bits >= 8 && op_bits <= 10);
    if (!known) {
      *close_code = kCloseProtocolError;
      return Status::BadRequest("websocket: unknown opcode " + std::to_string(op_bits));
    }
    if (IsControl(op) && (!fin || len > 125)) {
      *close_code = kCloseProtocolError;
      return Status::BadRequest("websocket: invalid control frame");
    }
    if (len > max_message_ || (!IsControl(op) && message_.size() + len > max_message_)) {
      *close_code = kCloseTooBig;
      return Status::TooLarge("websocket: message too big");
    }
    if (masked) hdr += 4;
    if (avail < hdr + len) break;
    const uint8_t* mask = masked ? p + hdr - 4 : nullptr;
    std::string_view payload(reinterpret_cast<const char*>(p + hdr), static_cast<size_t>(len));
    off_ += hdr + static_cast<size_t>(len);
    if (IsControl(op)) {
      Message m{op, std::string()};
      size_t pos = 0;
      AppendMasked(&m.payload, payload, mask, &pos);
      out->push_back(std::move(m));
    } else if (op == Opcode::kContinuation) {
      if (!in_message_) {
        *close_code = kCloseProtocolError;
        return Status::BadRequest("websocket: continuation without a message");
      }
      size_t pos = 0;
      AppendMasked(&message_, payload, mask, &pos);
      if (fin) {
        in_message_ = false;
        out->push_back(Message{message_op_, std::move(message_)});
        message_.clear();
      }
    } else {
      if (in_message_) {
        *close_code = kCloseProtocolError;
        return Status::BadRequest("websocket: new message inside a fragmented one");
      }
      size_t pos = 0;
      if (fin) {
        Message m{op, std::string()};
        AppendMasked(&m.payload, payload, mask, &pos);
        out->push_back(std::move(m));
      } else {
        in_message_ = true;
        message_op_ = op;
        message_.clear();
        AppendMasked(&message_, payload, mask, &pos);
      }
    }
  }
  if (off_ == buf_.size()) {
    buf_.clear();
    off_ = 0;
  } else if (off_ > 64 * 1024) {
    buf_.erase(0, off_);
    off_ = 0;
  }
  return Status::OK();
}

bool IsWebSocketRequest(const Request& req) {
  const std::string* up = req.Header("upgrade");
  return req.upgrade && up != nullptr && HeaderHasToken(*up, "websocket");
}

Status ServerHandshake(const Request& req, const std::vector<std::string>& supported, ResponseWriter::Headers* headers,
                       std::string* chosen) {
  if (req.method != "GET") return Status::BadRequest("websocket: the handshake must be a GET");
  const std::string* conn = req.Header("connection");
  const std::string* up = req.Header("upgrade");
  if (conn == nullptr || !HeaderHasToken(*conn, "upgrade") || up == nullptr || !HeaderHasToken(*up, "websocket")) {
    return Status::BadRequest("websocket: not a websocket upgrade request");
  }
  const std::string* version = req.Header("sec-websocket-version");
  if (version == nullptr || std::string(Trim(*version)) != "13") {
    return Status::BadRequest("websocket: unsupported Sec-WebSocket-Version");
  }
  const std::string* key = req.Header("sec-websocket-key");
  std::string decoded;
  if (key == nullptr || !Base64Decode(Trim(*key), &decoded) || decoded.size() != 16) {
    return Status::BadRequest("websocket: missing or invalid Sec-WebSocket-Key");
  }
  chosen->clear();
  if (!supported.empty()) {
    std::vector<std::string> offered;
    for (const auto& [k, v] : req.headers) {
      if (k != "sec-websocket-protocol") continue;
      for (auto part : Split(v, ',')) {
        part = Trim(part);
        if (!part.empty()) offered.emplace_back(part);
      }
    }
    for (const auto& o : offered) {
      for (const auto& s : supported) {
        if (o == s) {
          *chosen = o;
          break;
        }
      }
      if (!chosen->empty()) break;
    }
    if (chosen->empty()) {
      return Status::BadRequest("websocket server does not support any of the requested protocols: " +
                                Join(offered, ", "));
    }
  }
  headers->clear();
  headers->emplace_back("Upgrade", "websocket");
  headers->emplace_back("Connection", "Upgrade");
  headers->emplace_back("Sec-WebSocket-Accept", AcceptKey(Trim(*key)));
  if (!chosen->empty()) headers->emplace_back("Sec-WebSocket-Protocol", *chosen);
  return Status::OK();
}

Headers ClientHandshakeHeaders(const std::vector<std::string>& protocols, std::string* key) {
  unsigned char raw[16];
  RAND_bytes(raw, sizeof(raw));
  *key = Base64Encode(std::string_view(reinterpret_cast<const char*>(raw), sizeof(raw)));
  Headers h = {{"Connection", "Upgrade"},
               {"Upgrade", "websocket"},
               {"Sec-WebSocket-Version", "13"},
               {"Sec-WebSocket-Key", *key}};
  if (!protocols.empty()) h.emplace_back("Sec-WebSocket-Protocol", Join(protocols, ", "));
  return h;
}

Status CheckClientHandshake(const Response& resp, const std::string& key, const std::vector<std::string>& protocols,
                            std::string* chosen) {
  if (resp.status != 101)
    return Status::Unavailable("websocket: bad handshake (status " + std::to_string(resp.status) + ")");
  const std::string* accept = FindHeader(resp.headers, "sec-websocket-accept");
  if (accept == nullptr || *accept != AcceptKey(key)) return Status::Unavailable("websocket: bad Sec-WebSocket-Accept");
  const std::string* proto = FindHeader(resp.headers, "sec-websocket-protocol");
  chosen->clear();
  if (proto != nullptr) {
    bool ok = false;
    for (const auto& p : protocols) ok = ok || p == *proto;
    if (!ok) return Status::Unavailable("websocket: the server chose protocol " + *proto + " that was not offered");
    *chosen = *proto;
  }
  return Status::OK();
}

Connection::Connection(ByteStreamPtr stream, bool server, size_t max_message_bytes)
    : stream_(std::move(stream)), server_(server), decoder_(server, max_message_bytes) {}

Connection::~Connection() {
  *alive_ = false;
  if (stream_) stream_->Close();
}

void Connection::Start(Callbacks cbs) {
  cbs_ = std::move(cbs);
  std::weak_ptr<bool> alive = alive_;
  ByteStream::Callbacks bc;
  bc.on_data = [this, alive](std::string_view d) {
    if (alive.lock() && *alive.lock()) OnData(d);
  };
  bc.on_close = [this, alive](const Status& st) {
    auto a = alive.lock();
    if (!a || !*a) return;
    Fail(1006, st.ok() ? Status::Unavailable("connection closed") : st);
  };
  stream_->Start(std::move(bc));
}

void Connection::WriteFrame(Opcode op, std::string_view payload, std::string_view prefix) {
  if (!stream_ || stream_->closed()) return;
  std::string frame;
  frame.reserve(prefix.size() + payload.size() + 14);
  uint8_t key[4];
  const uint8_t* mask = nullptr;
  if (!server_) {
    RAND_bytes(key, 4);
    mask = key;
  }
  AppendHeader(&frame, op, true, prefix.size() + payload.size(), mask);
  size_t pos = 0;
  AppendMasked(&frame, prefix, mask, &pos);
  AppendMasked(&frame, payload, mask, &pos);
  stream_->Write(std::move(frame));
}

bool Connection::Send(Opcode op, std::string_view payload) {
  if (closing()) return false;
  WriteFrame(op, payload);
  return true;
}

bool Connection::SendPrefixed(uint8_t prefix, std::string_view data) {
  if (closing()) return false;
  char p = static_cast<char>(prefix);
  WriteFrame(Opcode::kBinary, data, std::string_view(&p, 1));
  return true;
}

void Connection::Ping(std::string_view payload) {
  if (!closing()) WriteFrame(Opcode::kPing, payload.substr(0, 125));
}

void Connection::Close(uint16_t code, std::string_view reason) {
  cbs_ = Callbacks();
  if (closing_) return;
  closing_ = true;
  WriteFrame(Opcode::kClose, ClosePayload(code, reason));
  if (stream_) stream_->Close();
}

void Connection::Fail(uint16_t code, const Status& why) {
  auto fn = std::move(cbs_.on_close);
  cbs_ = Callbacks();
  closing_ = true;
  if (fn) fn(code, why);
}

void Connection::OnData(std::string_view data) {
  if (closing_) return;
  std::vector<Decoder::Message> msgs;
  uint16_t close_code = kCloseNormal;
  Status st = decoder_.Feed(data, &msgs, &close_code);
  std::weak_ptr<bool> alive = alive_;
  for (auto& m : msgs) {
    if (closing_) return;
    switch (m.op) {
      case Opcode::kPing:
        WriteFrame(Opcode::kPong, m.payload);
        break;
      case Opcode::kPong:
        break;
      case Opcode::kClose: {
        uint16_t code = 1005;
        if (m.payload.size() >= 2) {
          code = static_cast<uint16_t>((static_cast<uint8_t>(m.payload[0]) << 8) | static_cast<uint8_t>(m.payload[1]));
        }
        // Answer the close, then report it.
        WriteFrame(Opcode::kClose, ClosePayload(code == 1005 ? kCloseNormal : code, ""));
        closing_ = true;
        if (stream_) stream_->Close();
        auto fn = std::move(cbs_.on_close);
        cbs_ = Callbacks();
        if (fn) fn(code, Status::OK());
        return;
      }
      default:
        if (cbs_.on_message) {
          auto fn = cbs_.on_message;
          fn(m.op, std::move(m.payload));
          auto a = alive.lock();
          if (!a || !*a) return;
        }
    }
  }
  if (!st.ok() && !closing_) {
    WriteFrame(Opcode::kClose, ClosePayload(close_code, st.message()));
    closing_ = true;
    if (stream_) stream_->Close();
    Fail(close_code, st);
  }
}

}  // namespace minik::http::ws
