// The formats that cross to TypeScript, as this build of the addon sees them: what
// test/protocol.test.ts checks server/protocol.ts, server/gil-names.ts, server/errors.ts and
// server/shared/views.ts against, and the duration buckets the server's histograms use.
#pragma once

#include <napi.h>

namespace gilwatch {

// The wire protocol (gilwatch_protocol.h), the GIL's names (gil_names.h) and the decode
// error codes (decode_errors.h), each generated from the header's own lists.
Napi::Value ProtocolLayout(const Napi::CallbackInfo &info);
// The column tables of the views' flat rows (view_layout.h).
Napi::Value ViewLayout(const Napi::CallbackInfo &info);

} // namespace gilwatch
