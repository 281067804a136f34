#include "redshift/postgres_target.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <regex>

#include "candle/candle.hpp"
#include "core/error.hpp"
#include "core/log.hpp"
#include "csv/export.hpp"
#include "csv/gunzip.hpp"

namespace cryptopipe {

std::vector<ObjectUri> objects_to_load(const ObjectUri& uri, bool manifest, const S3Settings& s3) {
  if (!manifest) return {uri};
  std::string json;
  auto store = open_object_store(uri, s3);
  store->get_object(uri, [&](std::string_view chunk) {
    if (json.size() + chunk.size() > (64u << 20)) throw BadDataError(uri.str() + ": manifest larger than 64 MiB");
    json.append(chunk);
  });
  std::vector<ObjectUri> objects;
  for (const auto& entry : parse_manifest(json, uri.str())) {
    ObjectUri u = parse_object_uri(entry.url);
    if (!entry.mandatory && !open_object_store(u, s3)->exists(u)) {
      log::info("{}: optional manifest entry {} does not exist, skipped", uri.str(), entry.url);
      continue;
    }
    objects.push_back(std::move(u));
  }
  return objects;
}

MergeCounts copy_objects_into_postgres(PgConnection& db, const TableName& t, const std::vector<ObjectUri>& objects,
                                       const S3Settings& s3, MergeMode mode) {
  // One store per scheme/bucket: a manifest may point at another bucket than its own.
  std::map<std::string, std::unique_ptr<ObjectStore>> stores;
  CanonicalCopyIn copy(db, t);
  for (const auto& uri : objects) {
    std::string name = uri.str();
    auto& store = stores[uri.scheme + "://" + uri.bucket];
    if (!store) store = open_object_store(uri, s3);
    copy.begin_input(name);
    MaybeGunzip gunzip(name, [&](std::string_view data) { copy.write(data); });
    std::uint64_t bytes = store->get_object(uri, [&](std::string_view chunk) { gunzip.write(chunk); });
    gunzip.finish();
    copy.end_input();
    log::info("{}: {} bytes{}", name, bytes, gunzip.gzipped() ? " (gzip)" : "");
  }
  return copy.finish(mode);
}

}  // namespace cryptopipe
