/* FLV audio/video tag bodies as RTMP carries them (message types 8 and 9): what a publisher
 * sends, classified before anything reaches the transcoder. Pure (no I/O), any thread; fuzzed
 * (tests/fuzz/fuzz_flv_tag.c).
 *
 * Accepted: AVC (codec id 7) sequence headers (AVCDecoderConfigurationRecord), NAL units
 * (AVCC, length-prefixed, with a signed 24-bit composition time offset) and end of sequence;
 * AAC (sound format 10) sequence headers (AudioSpecificConfig) and raw frames.
 * Refused with LC_EPERM and a reason: Enhanced RTMP (the video ExHeader bit, FourCCs such as
 * hvc1 / av01 / vp09; audio format 9), other legacy video codecs (Sorenson, VP6, screen video)
 * and other audio formats (MP3, Speex, Nellymoser, PCM, G.711). Malformed bodies: LC_EINVAL. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  LC_FLV_CONFIG = 0, /* sequence header: AVCDecoderConfigurationRecord / AudioSpecificConfig */
  LC_FLV_FRAME,      /* an access unit / a raw AAC frame */
  LC_FLV_END,        /* AVC end of sequence */
  LC_FLV_IGNORE,     /* video info/command frame (frame type 5): nothing to decode */
} lc_flv_kind;

typedef struct {
  lc_flv_kind kind;
  bool keyframe;        /* video: frame type 1 */
  int32_t cts;          /* video: composition time offset in ms (pts = dts + cts) */
  const uint8_t *data;  /* borrowed from the tag body: the record / the frame */
  size_t len;
} lc_flv_packet;

/* Parses a video tag body (borrowed). Returns 0, LC_EPERM (codec refused; *why says which),
 * LC_EINVAL (malformed; *why). *why is a static string; may be NULL. */
int lc_flv_parse_video(const uint8_t *body, size_t len, lc_flv_packet *out, const char **why);
/* Parses an audio tag body (borrowed). Same returns. */
int lc_flv_parse_audio(const uint8_t *body, size_t len, lc_flv_packet *out, const char **why);
/* Checks an AVCDecoderConfigurationRecord (version 1, at least one SPS, lengths inside the
 * record); *nal_length_size = 1, 2 or 4 (may be NULL). 0 or LC_EINVAL + *why. */
int lc_flv_check_avcc_config(const uint8_t *rec, size_t len, unsigned *nal_length_size, const char **why);
/* Checks that an AVCC access unit is a whole sequence of length-prefixed NAL units of
 * nal_length_size bytes (1, 2 or 4). 0 or LC_EINVAL + *why. */
int lc_flv_check_avcc_frame(const uint8_t *au, size_t len, unsigned nal_length_size, const char **why);
