/*
 * Rate-paced UDP sender for the end-to-end benchmark, in C so that the sender is not the limit.
 *
 *   udp-sender HOST PORT FILE RATE SECONDS [SOURCES [FIRST_SEQUENCE]]
 *
 * FILE holds datagrams as [u32 big-endian length][bytes]...; the first one is a "hello" (NetFlow v9
 * templates) sent once per source before timing starts, the others are sent round-robin. RATE is
 * datagrams per second over all sources, SECONDS the duration; RATE 0 sends as fast as the sockets
 * take datagrams until SECONDS have passed (to measure what a receiver can take). SOURCES sockets
 * (default 1) are bound to 127.0.0.1, 127.0.0.2, ... so each is its own exporter address (and
 * source port).
 * Every NetFlow v9 datagram gets the next sequence number of its source (header bytes 12..15) and
 * the source's index as source id (bytes 16..19), so each source is a consistent exporter.
 * Sequence numbers start at FIRST_SEQUENCE (default 1), the hello taking the first, so that a run
 * can carry on the numbering of an earlier one without a gap.
 * sendmmsg() in batches of 32, each sent once the schedule has all of it due; in between the sender
 * sleeps, so that it takes no more CPU than the sending itself.
 * Prints one line of JSON: {"sent":N,"seconds":S,"rate":R}.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
#define MAX_SOURCES 64

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)(v >> 24);
  p[1] = (unsigned char)(v >> 16);
  p[2] = (unsigned char)(v >> 8);
  p[3] = (unsigned char)v;
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: %s HOST PORT FILE RATE SECONDS [SOURCES]\n", argv[0]);
    return 2;
  }
  const char *host = argv[1];
  int port = atoi(argv[2]);
  const char *file = argv[3];
  double rate = atof(argv[4]);
  double seconds = atof(argv[5]);
  int sources = argc > 6 ? atoi(argv[6]) : 1;
  uint32_t first_sequence = argc > 7 ? (uint32_t)strtoul(argv[7], NULL, 10) : 1;
  int unpaced = rate == 0;
  if (sources < 1 || sources > MAX_SOURCES || rate < 0 || seconds <= 0) {
    fprintf(stderr, "bad arguments\n");
    return 2;
  }

  FILE *f = fopen(file, "rb");
  if (!f) {
    perror(file);
    return 1;
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *data = malloc((size_t)size);
  if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "cannot read %s\n", file);
    return 1;
  }
  fclose(f);
  int count = 0;
  for (long o = 0; o + 4 <= size;) {
    uint32_t len = ((uint32_t)data[o] << 24) | ((uint32_t)data[o + 1] << 16) | ((uint32_t)data[o + 2] << 8) | data[o + 3];
    o += 4 + len;
    count++;
  }
  if (count < 2) {
    fprintf(stderr, "%s: need a hello datagram and at least one more\n", file);
    return 1;
  }
  unsigned char **dg = calloc((size_t)count, sizeof *dg);
  uint32_t *dglen = calloc((size_t)count, sizeof *dglen);
  for (long o = 0, i = 0; i < count; i++) {
    dglen[i] = ((uint32_t)data[o] << 24) | ((uint32_t)data[o + 1] << 16) | ((uint32_t)data[o + 2] << 8) | data[o + 3];
    dg[i] = data + o + 4;
    o += 4 + dglen[i];
  }

  struct sockaddr_in dst;
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_port = htons((unsigned short)port);
  if (inet_pton(AF_INET, host, &dst.sin_addr) != 1) {
    fprintf(stderr, "bad host %s\n", host);
    return 2;
  }
  int fds[MAX_SOURCES];
  uint32_t seq[MAX_SOURCES];
  int sndbuf = 4 * 1024 * 1024;
  for (int s = 0; s < sources; s++) {
    fds[s] = socket(AF_INET, SOCK_DGRAM, 0);
    setsockopt(fds[s], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    struct sockaddr_in src;
    memset(&src, 0, sizeof src);
    src.sin_family = AF_INET;
    src.sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)s);
    if (bind(fds[s], (struct sockaddr *)&src, sizeof src) < 0 || connect(fds[s], (struct sockaddr *)&dst, sizeof dst) < 0) {
      perror("bind/connect");
      return 1;
    }
    seq[s] = first_sequence;
  }

  /* Scratch copies: each datagram of a batch gets its own header (sequence, source id). */
  static unsigned char scratch[BATCH][65536];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);

  for (int s = 0; s < sources; s++) {
    memcpy(scratch[0], dg[0], dglen[0]);
    if (dglen[0] >= 20 && scratch[0][0] == 0 && scratch[0][1] == 9) {
      put_u32(scratch[0] + 12, seq[s]++);
      put_u32(scratch[0] + 16, (uint32_t)s);
    }
    if (send(fds[s], scratch[0], dglen[0], 0) < 0) perror("send hello");
  }
  usleep(200000); /* let the receiver learn the templates */
  /* Sleeps end on time (the default 50 us of timer slack would delay every batch). */
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);

  unsigned long long total = unpaced ? ~0ULL : (unsigned long long)(rate * seconds);
  unsigned long long sent = 0;
  int next = 1;
  int src = 0;
  double start = now_s();
  while (sent < total) {
    double t = now_s();
    if (unpaced && t - start >= seconds) break;
    int n = BATCH;
    if (!unpaced) {
      if (total - sent < (unsigned long long)n) n = (int)(total - sent);
      /* A whole batch once the schedule has all of it due, sleeping (never spinning) until then:
         on a machine with few cores a spinning sender would take the CPU the receiver needs. */
      double due = start + (double)(sent + (unsigned long long)n) / rate;
      if (t < due) {
        double wait = due - t;
        struct timespec ts = {(time_t)wait, (long)((wait - (double)(time_t)wait) * 1e9)};
        nanosleep(&ts, NULL);
        continue;
      }
    }
    for (int i = 0; i < n; i++) {
      memcpy(scratch[i], dg[next], dglen[next]);
      if (dglen[next] >= 20 && scratch[i][0] == 0 && scratch[i][1] == 9) {
        put_u32(scratch[i] + 12, seq[src]++);
        put_u32(scratch[i] + 16, (uint32_t)src);
      }
      iov[i].iov_base = scratch[i];
      iov[i].iov_len = dglen[next];
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      next = next + 1 < count ? next + 1 : 1;
    }
    int done = 0;
    while (done < n) {
      int r = sendmmsg(fds[src], msgs + done, (unsigned)(n - done), 0);
      if (r < 0) {
        if (errno == EINTR || errno == EAGAIN || errno == ENOBUFS) continue;
        perror("sendmmsg");
        return 1;
      }
      done += r;
    }
    sent += (unsigned long long)n;
    src = (src + 1) % sources;
  }
  double elapsed = now_s() - start;
  printf("{\"sent\":%llu,\"seconds\":%.4f,\"rate\":%.1f}\n", sent, elapsed, (double)sent / elapsed);
  return 0;
}
