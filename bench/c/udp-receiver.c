/*
 * Minimal UDP receiver for the end-to-end benchmark: the ceiling a collector could reach on this
 * machine. recvmmsg() in batches, counts datagrams and bytes, does nothing else.
 *
 *   udp-receiver PORT [RCVBUF_BYTES]
 *
 * Binds 127.0.0.1:PORT, prints "ready <granted rcvbuf>" on stdout, and on SIGTERM or SIGINT prints
 * one line of JSON: {"datagrams":N,"bytes":N}.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define BATCH 64
#define SLOT 2048

static volatile sig_atomic_t stop_requested = 0;

static void on_signal(int sig) {
  (void)sig;
  stop_requested = 1;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s PORT [RCVBUF_BYTES]\n", argv[0]);
    return 2;
  }
  int port = atoi(argv[1]);
  int rcvbuf = argc > 2 ? atoi(argv[2]) : 32 * 1024 * 1024;

  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) {
    perror("socket");
    return 1;
  }
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  struct sockaddr_in addr;
  memset(&addr, 0, sizeof addr);
  addr.sin_family = AF_INET;
  addr.sin_port = htons((unsigned short)port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    perror("bind");
    return 1;
  }
  int granted = 0;
  socklen_t len = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &len);

  /* No SA_RESTART: a signal interrupts recvmmsg so the loop sees stop_requested. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  static char bufs[BATCH][SLOT];
  struct mmsghdr msgs[BATCH];
  struct iovec iov[BATCH];
  memset(msgs, 0, sizeof msgs);
  for (int i = 0; i < BATCH; i++) {
    iov[i].iov_base = bufs[i];
    iov[i].iov_len = SLOT;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
  }

  printf("ready %d\n", granted);
  fflush(stdout);

  unsigned long long datagrams = 0, bytes = 0;
  while (!stop_requested) {
    int n = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("recvmmsg");
      return 1;
    }
    for (int i = 0; i < n; i++) bytes += msgs[i].msg_len;
    datagrams += (unsigned long long)n;
  }
  printf("{\"datagrams\":%llu,\"bytes\":%llu}\n", datagrams, bytes);
  fflush(stdout);
  close(fd);
  return 0;
}
