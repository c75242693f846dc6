/**
 * Command line front end: `flowgauge [--config FILE]` (the daemon), `flowgauge check-config`, and
 * `flowgauge replay` (offline: captures in, final /metrics text on stdout).
 *
 * Exit status: 0 ok, 1 configuration or usage error, 2 runtime failure. User errors print one
 * line each on stderr, never a stack trace.
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_HTTP_PORT, DEFAULT_NETFLOW_PORTS, DEFAULT_SFLOW_PORT } from './config/defaults.js';
import { ConfigLoadError, loadConfig } from './config/load.js';
import { checkAwsFormat } from './decoders/aws-vpc-flow-log.js';
import type { FlowgaugeConfig } from './config/types.js';
import { createLogger, scrubSecrets } from './log.js';
import { packageVersion } from './version.js';

export const EXIT_OK = 0;
export const EXIT_USAGE = 1;
export const EXIT_RUNTIME = 2;

/** Where the CLI writes; tests pass their own streams. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const HELP_FOOTER = `
Default ports:
  ${DEFAULT_HTTP_PORT}/tcp          HTTP: /metrics, /healthz, /readyz, /status   (listen.http)
  ${DEFAULT_NETFLOW_PORTS.join('/udp, ')}/udp  NetFlow v5/v9 and IPFIX                   (listen.netflow)
  ${DEFAULT_SFLOW_PORT}/udp          sFlow v5                                   (listen.sflow)

Config file:
  YAML, given with --config FILE; without it the embedded defaults are used.
  See flowgauge.example.yaml and docs/configuration.md. Values may use \${NAME} or
  \${NAME:-default} to read environment variables. Check a file with:
    flowgauge check-config --config FILE

Exit status: 0 ok, 1 configuration or usage error, 2 runtime failure.
`;

class ExitWith extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

export async function main(argv: string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const errLine = (line: string): void => {
    io.stderr.write(`${line}\n`);
  };
  let exitCode = EXIT_OK;

  /** Loads the config or prints every error (FILE:LINE:COL: key: message) and stops with 1. */
  const configFrom = async (file: string | undefined): Promise<FlowgaugeConfig> => {
    try {
      return await loadConfig(file);
    } catch (err) {
      if (err instanceof ConfigLoadError) {
        // Values from ${ENV} references are secrets: an error quoting one must not print it.
        for (const e of err.errors) errLine(scrubSecrets(e.toString()));
        throw new ExitWith(EXIT_USAGE);
      }
      throw err;
    }
  };

  const program = new Command('flowgauge')
    .description(
      'Receives NetFlow v5/v9, IPFIX and sFlow, rolls flows into bounded per-device, per-app and\n' +
        'per-peer counters, and serves them as Prometheus /metrics.',
    )
    .version(packageVersion(), '-V, --version', 'print the version and exit')
    .helpOption('-h, --help', 'show this help')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .option('--web.config.file <file>', 'web config file (Prometheus exporter-toolkit format: TLS, basic auth); overrides web_config_file')
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      // Commander's own messages start with "error: "; keep them to one line naming the program.
      outputError: (s, write) => write(`flowgauge: ${s.trim().replace(/^error: /, '')} (see flowgauge --help)\n`),
    })
    .addHelpText('after', HELP_FOOTER)
    .action(async (opts: { config?: string; 'web.config.file'?: string }) => {
      const config = await configFrom(opts.config);
      if (opts['web.config.file'] !== undefined) config.webConfigFile = opts['web.config.file'];
      const logger = createLogger(config.log.level);
      const { runDaemon } = await import('./daemon.js');
      try {
        exitCode = await runDaemon(config, logger);
      } catch (err) {
        logger.fatal({ err: errorMessage(err) }, 'daemon failed');
        errLine(`flowgauge: ${errorMessage(err)}`);
        exitCode = EXIT_RUNTIME;
      }
    });

  program
    .command('check-config')
    .description('validate a config file; print each error with its line and key')
    .requiredOption('-c, --config <file>', 'YAML config file to check')
    .action(async (opts: { config: string }) => {
      await configFrom(opts.config);
      io.stdout.write(`${opts.config}: OK\n`);
      exitCode = EXIT_OK;
    });

  program
    .command('replay')
    .description('read captured export datagrams (pcap/pcapng) or cloud flow-log files and print the /metrics text they produce')
    .argument('<input...>', 'capture files (pcap/pcapng) or flow-log files (AWS, Azure, GCP; .gz too)')
    .option('-c, --config <file>', 'YAML config file (default: the embedded defaults)')
    .addOption(
      new Option('--format <format>', 'exposition format of the output').choices(['prometheus', 'openmetrics']).default('prometheus'),
    )
    .addOption(
      new Option(
        '--aws-format <fields>',
        'field list of AWS flow logs without a header line (CloudWatch Logs delivery of a custom format), as in the flow log\'s "log record format"',
      ).argParser((value: string) => {
        const why = checkAwsFormat(value);
        if (why !== undefined) throw new InvalidArgumentError(why);
        return value;
      }),
    )
    .action(async (inputs: string[], _opts: unknown, cmd: Command) => {
      const opts = cmd.optsWithGlobals<{ config?: string; format: 'prometheus' | 'openmetrics'; awsFormat?: string }>();
      const config = await configFrom(opts.config);
      const { runReplay } = await import('./replay.js');
      exitCode = await runReplay(config, inputs, io.stdout, opts.format, { awsFormat: opts.awsFormat });
    });

  try {
    await program.parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (err) {
    if (err instanceof ExitWith) return err.code;
    // Help and --version end parsing with exit code 0; every other commander error is a usage error.
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT_OK : EXIT_USAGE;
    errLine(`flowgauge: ${errorMessage(err)}`);
    return EXIT_RUNTIME;
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
