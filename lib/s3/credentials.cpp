// Credentials, region and endpoint in the AWS SDK's order, so the tool behaves like the aws CLI on the same host.
#include <cstdlib>
#include <fstream>
#include <map>

#include "core/error.hpp"
#include "s3/object_store.hpp"
#include "s3/profile.hpp"

namespace cryptopipe {
namespace {

std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

std::string expand_home(const std::string& path) {
  if (path.rfind("~/", 0) == 0) return env("HOME") + path.substr(1);
  return path;
}

std::string trim(const std::string& s) {
  auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::string profile_name() {
  std::string p = env("AWS_PROFILE");
  if (p.empty()) p = env("AWS_DEFAULT_PROFILE");
  return p.empty() ? "default" : p;
}

std::string credentials_file() {
  std::string f = env("AWS_SHARED_CREDENTIALS_FILE");
  return expand_home(f.empty() ? "~/.aws/credentials" : f);
}

std::string config_file() {
  std::string f = env("AWS_CONFIG_FILE");
  return expand_home(f.empty() ? "~/.aws/config" : f);
}

}  // namespace

std::map<std::string, std::string> read_ini_section(const std::string& path, const std::string& section) {
  std::map<std::string, std::string> out;
  std::ifstream in(path);
  if (!in) return out;
  std::string line, current;
  bool in_section = false;
  while (std::getline(in, line)) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) continue;  // nested sub-section values (s3 = ...)
    std::string t = trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      current = trim(t.substr(1, t.size() - 2));
      in_section = current == section;
      continue;
    }
    if (!in_section) continue;
    auto eq = t.find('=');
    if (eq == std::string::npos) continue;
    std::string key = trim(t.substr(0, eq)), value = trim(t.substr(eq + 1));
    if (!out.count(key)) out[key] = value;
  }
  return out;
}

std::map<std::string, std::string> read_profile(const std::string& profile) {
  // The config file names non-default profiles "[profile NAME]"; the credentials file uses "[NAME]".
  auto merged = read_ini_section(config_file(), profile == "default" ? "default" : "profile " + profile);
  if (merged.empty() && profile != "default") merged = read_ini_section(config_file(), profile);
  for (auto& [k, v] : read_ini_section(credentials_file(), profile)) merged[k] = v;  // credentials file wins
  return merged;
}

AwsCredentials resolve_aws_credentials() {
  AwsCredentials c;
  c.access_key_id = env("AWS_ACCESS_KEY_ID");
  c.secret_access_key = env("AWS_SECRET_ACCESS_KEY");
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) {
    c.session_token = env("AWS_SESSION_TOKEN");
    return c;
  }
  const std::string profile = profile_name();
  auto p = read_profile(profile);
  c.access_key_id = p["aws_access_key_id"];
  c.secret_access_key = p["aws_secret_access_key"];
  c.session_token = p["aws_session_token"];
  if (!c.access_key_id.empty() && !c.secret_access_key.empty()) return c;
  throw UsageError("AWS credentials: none found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or profile \"" +
                   profile + "\" in " + credentials_file() + " / " + config_file() + ")");
}

S3Settings resolve_s3_settings(const std::string& region_flag, const std::string& endpoint_flag) {
  S3Settings s;
  s.region = region_flag;
  if (s.region.empty()) s.region = env("AWS_REGION");
  if (s.region.empty()) s.region = env("AWS_DEFAULT_REGION");
  if (s.region.empty()) s.region = read_profile(profile_name())["region"];
  if (s.region.empty()) s.region = "us-east-1";
  s.endpoint_url = endpoint_flag;
  if (s.endpoint_url.empty()) s.endpoint_url = env("AWS_ENDPOINT_URL_S3");
  if (s.endpoint_url.empty()) s.endpoint_url = env("AWS_ENDPOINT_URL");
  while (!s.endpoint_url.empty() && s.endpoint_url.back() == '/') s.endpoint_url.pop_back();
  if (!s.endpoint_url.empty() && s.endpoint_url.rfind("http://", 0) != 0 && s.endpoint_url.rfind("https://", 0) != 0)
    throw UsageError("--endpoint-url: " + s.endpoint_url + ": must start with http:// or https://");
  return s;
}

}  // namespace cryptopipe
