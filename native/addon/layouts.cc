// Exports of the cross-language formats, generated from their headers' X-macro lists so that
// nothing here is written by hand a second time.
#include "layouts.h"

#include <cstddef>

#include "../protocol/decode_errors.h"
#include "../protocol/gilwatch_protocol.h"
#include "../protocol/view_layout.h"
#include "gil_metrics.h"
#include "gil_names.h"

namespace gilwatch {

// {GW_FRAME_HELLO: 1, ..., sizeof_gw_hello: 48, 'gw_hello.pid': 12, ...,
//  nativeOnly: ['GW_SHARED_MAGIC', ...], durationBucketsSeconds, gilNames, decodeErrors}
Napi::Value ProtocolLayout(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
#define NUMBER(name)            o.Set(#name, static_cast<double>(name));
#define ENUMERATOR(name, value) o.Set(#name, static_cast<double>(name));
#define FIELD(type, field)      o.Set(#type "." #field, static_cast<double>(offsetof(type, field)));
#define STRUCT(type, fields)                                 \
  o.Set("sizeof_" #type, static_cast<double>(sizeof(type))); \
  fields(FIELD)
  GW_WIRE_NUMBERS(NUMBER)
  GW_WIRE_ENUMS(ENUMERATOR)
  GW_WIRE_STRUCTS(STRUCT)
#undef STRUCT
#undef FIELD
#undef ENUMERATOR
#undef NUMBER
  Napi::Array nativeOnly = Napi::Array::New(env);
#define NATIVE(name) nativeOnly.Set(nativeOnly.Length(), #name);
  GW_NATIVE_NUMBERS(NATIVE)
#undef NATIVE
  o.Set("nativeOnly", nativeOnly);

  Napi::Array buckets = Napi::Array::New(env, kDurationBuckets);
  for (size_t i = 0; i < kDurationBuckets; i++) buckets.Set(i, static_cast<double>(kDurationBucketsNs[i]) / 1e9);
  o.Set("durationBucketsSeconds", buckets);
  Napi::Object gilNames = Napi::Object::New(env);
  gilNames.Set("GW_GIL_DOMAIN", GW_GIL_DOMAIN);
  gilNames.Set("GW_GIL_WAITING", GW_GIL_WAITING);
  gilNames.Set("GW_GIL_HOLDING", GW_GIL_HOLDING);
  gilNames.Set("GW_GIL_DROP_REQUEST", GW_GIL_DROP_REQUEST);
  o.Set("gilNames", gilNames);
  Napi::Array decodeErrors = Napi::Array::New(env);
#define DECODE_ERROR(name, code, meaning) decodeErrors.Set(decodeErrors.Length(), code);
  GW_DECODE_ERRORS(DECODE_ERROR)
#undef DECODE_ERROR
  o.Set("decodeErrors", decodeErrors);
  return o;
}

// {timelineItem: {START: 0, ...}, timelineItemFields: 6, ...}
Napi::Value ViewLayout(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  Napi::Object timelineItem = Napi::Object::New(env);
  Napi::Object laneKind = Napi::Object::New(env);
  Napi::Object seriesColumn = Napi::Object::New(env);
#define ITEM(name, js)   timelineItem.Set(#js, static_cast<double>(TimelineItem::name));
#define LANE(name, js)   laneKind.Set(#js, static_cast<double>(LaneKind::name));
#define COLUMN(name, js) seriesColumn.Set(#js, static_cast<double>(SeriesColumn::name));
  GW_TIMELINE_ITEM(ITEM)
  GW_LANE_KIND(LANE)
  GW_SERIES_COLUMN(COLUMN)
#undef ITEM
#undef LANE
#undef COLUMN
  Napi::Object o = Napi::Object::New(env);
  o.Set("timelineItem", timelineItem);
  o.Set("timelineItemFields", static_cast<double>(TimelineItem::kFields));
  o.Set("laneKind", laneKind);
  o.Set("timelineKindMask", static_cast<double>(kTimelineKindMask));
  o.Set("timelineOpen", static_cast<double>(kTimelineOpen));
  o.Set("seriesColumn", seriesColumn);
  o.Set("seriesColumns", static_cast<double>(SeriesColumn::kColumns));
  return o;
}

} // namespace gilwatch
