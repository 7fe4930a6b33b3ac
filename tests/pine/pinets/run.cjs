// Run a Pine v6 script on given candles with PineTS and print the alerts it raised (JSON on stdout).
// argv: <script.pine> <candles.json> <basecurrency> <inputs.json>
const { PineTS, Indicator } = require('pinets');
const fs = require('fs');
(async () => {
  const [source, candles, base, inputs] = [fs.readFileSync(process.argv[2], 'utf8'), JSON.parse(fs.readFileSync(process.argv[3], 'utf8')),
                                           process.argv[4], JSON.parse(fs.readFileSync(process.argv[5], 'utf8'))];
  const pine = new PineTS(candles, base + 'USDT', '60');
  // custom candles carry no symbol information: the overlay checks syminfo.basecurrency, so give it one
  pine._syminfo = { basecurrency: base, currency: 'USDT', timezone: 'Etc/UTC', mintick: 0.1, ticker: base + 'USDT', tickerid: 'BINANCE:' + base + 'USDT' };
  const context = await pine.run(new Indicator(source, inputs));
  process.stdout.write(JSON.stringify({ alerts: context.alerts, bars: candles.length }));
})().catch((error) => { console.error(String(error && error.stack || error)); process.exit(1); });
