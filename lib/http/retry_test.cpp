#include "http/retry.hpp"

#include <gtest/gtest.h>

#include <deque>

#include "core/error.hpp"

using namespace cryptopipe;

namespace {
class FakeClock : public Clock {
 public:
  std::int64_t now = 1704067200LL * 1000000;
  std::vector<std::int64_t> sleeps_ms;
  std::int64_t now_us() override { return now; }
  void sleep_for(std::chrono::milliseconds d) override {
    sleeps_ms.push_back(d.count());
    now += d.count() * 1000;
  }
};

class ScriptedHttp : public HttpClient {
 public:
  std::deque<HttpResponse> script;
  int calls = 0;
  HttpResponse send(const HttpRequest&) override {
    ++calls;
    if (script.empty()) throw std::logic_error("script exhausted");
    HttpResponse r = script.front();
    script.pop_front();
    if (r.status == 0) throw TransientError("http://x: Connection reset by peer");
    return r;
  }
};

HttpResponse resp(long status, std::string body = "{}", HttpHeaders headers = {}) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  r.headers = std::move(headers);
  return r;
}
auto no_jitter = [](std::int64_t cap) { return cap; };
}  // namespace

TEST(RetryPolicy, HonoursRetryAfterSecondsThenSucceeds) {
  ScriptedHttp http;
  http.script = {resp(429, R"({"error":"Too many requests"})", {{"retry-after", "7"}}), resp(200, "[]")};
  FakeClock clock;
  auto r = send_with_retry(http, {"GET", "http://x/y", {}, ""}, RetryPolicy{}, clock, no_jitter);
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(clock.sleeps_ms.size(), 1u);
  EXPECT_EQ(clock.sleeps_ms[0], 7000);
}

TEST(RetryPolicy, HonoursRetryAfterHttpDate) {
  FakeClock clock;  // 2024-01-01T00:00:00Z
  auto d = parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", clock.now);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->count(), 30000);
  EXPECT_FALSE(parse_retry_after("soon", clock.now));
}

TEST(RetryPolicy, BacksOffExponentiallyAndGivesUpAsTransient) {
  ScriptedHttp http;
  http.script = {resp(500), resp(502), resp(0), resp(503)};
  FakeClock clock;
  RetryPolicy p;
  p.max_attempts = 4;
  try {
    send_with_retry(http, {"GET", "http://x/y", {}, ""}, p, clock, no_jitter);
    FAIL();
  } catch (const TransientError& e) {
    EXPECT_NE(std::string(e.what()).find("giving up after 4 attempts: HTTP 503"), std::string::npos) << e.what();
  }
  EXPECT_EQ(http.calls, 4);
  EXPECT_EQ(clock.sleeps_ms, (std::vector<std::int64_t>{500, 1000, 2000}));
}

TEST(RetryPolicy, OtherClientErrorsFailAtOnceWithTheApiMessage) {
  ScriptedHttp http;
  http.script = {resp(401, R"({"error":"Invalid API key"})")};
  FakeClock clock;
  try {
    send_with_retry(http, {"GET", "http://x/y", {}, ""}, RetryPolicy{}, clock, no_jitter);
    FAIL();
  } catch (const RemoteRefusedError& e) {
    EXPECT_EQ(std::string(e.what()), "http://x/y: HTTP 401: Invalid API key");
  }
  EXPECT_EQ(http.calls, 1);
}

TEST(RetryPolicy, StopsAtTheDeadlineEvenWithAttemptsLeft) {
  ScriptedHttp http;
  http.script = {resp(429, "{}", {{"retry-after", "100"}}), resp(200)};
  FakeClock clock;
  RetryPolicy p;
  p.deadline = std::chrono::milliseconds(10000);
  EXPECT_THROW(send_with_retry(http, {"GET", "http://x/y", {}, ""}, p, clock, no_jitter), TransientError);
  EXPECT_EQ(http.calls, 1);
}
