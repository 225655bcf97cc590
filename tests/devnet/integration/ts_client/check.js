// The official TypeScript client, @dydxprotocol/v4-client-js (version pinned in package.json),
// unmodified, against the devnet: its validator side over CometBFT JSON-RPC, its indexer side
// over REST. Run by tests/devnet/integration/test_ts_client.py:
//
//   node check.js --rpc http://127.0.0.1:26657 --indexer http://127.0.0.1:3002 --ws ws://...
//
// Steps, with the client's own API only: fund the account (FaucetClient); connect a
// CompositeClient to a local network configuration; read the account, the height (node and
// indexer), markets (indexer) and clob pairs, the subaccount and its authenticators (node,
// abci_query); place a short-term and a long-term BTC-USD limit buy far below the oracle (they
// rest, never fill), while CosmJS (the client's CometBFT library) listens to the websocket's
// NewBlock, NewBlockHeader and Tx events; find both orders on the indexer (listed, by id, by
// status filter) and in its orderbook; cancel both; watch the indexer report the cancels; read
// the subaccount and its positions back. The same steps as the official Python client's driver
// (scripts/official_client_driver.py), so both tests check the same things.
// Prints one JSON object with what it observed; exits 1 with a message on failure.
'use strict';

const {
  CompositeClient,
  FaucetClient,
  IndexerConfig,
  LocalWallet,
  Network,
  OrderExecution,
  OrderFlags,
  OrderSide,
  OrderStatus,
  OrderTimeInForce,
  OrderType,
  SubaccountInfo,
  TickerType,
  ValidatorConfig,
  BECH32_PREFIX,
} = require('@dydxprotocol/v4-client-js');
// The client's own CometBFT library (its dependency, at the version the lock file resolves), for
// what the client has no call for: the websocket's NewBlock, NewBlockHeader and Tx events,
// decoded by CosmJS.
const { Tendermint37Client, WebsocketClient } = require('@cosmjs/tendermint-rpc');

// BIP39 reference test vector (trezor/python-mnemonic vectors.json): a key nobody funds for real.
// Not the one the Python client's driver uses, so both can run against one devnet.
const MNEMONIC =
  'legal winner thank year wave sausage worth useful legal winner thank yellow';
const FUND_USDC = 10000;
const POLL_MS = 100;
const TIME_IN_FORCE_UNSPECIFIED = 0; // Order_TimeInForce: a plain (resting) limit order

function arg(name) {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0 || i + 1 >= process.argv.length) throw new Error(`--${name} is required`);
  return process.argv[i + 1];
}

async function poll(what, probe, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await probe();
    if (result !== null && result !== undefined) return result;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

const hex = (bytes) => Buffer.from(bytes).toString('hex').toUpperCase();

// The HTTP status of a failed indexer request (axios errors carry it on `response`).
const httpStatus = (e) => (e && e.response ? e.response.status : e && e.status);

async function indexerOrder(indexer, id) {
  try {
    return await indexer.account.getOrder(id);
  } catch (e) {
    const status = httpStatus(e);
    if (status !== undefined) return status;
    throw e;
  }
}

async function main() {
  const rpc = arg('rpc');
  const indexerUrl = arg('indexer');
  const ws = arg('ws');
  const timeoutMs = 30000;
  const out = {};
  const t0 = Date.now();

  const network = new Network(
    'devnet',
    new IndexerConfig(indexerUrl, ws),
    new ValidatorConfig(
      rpc,
      'localdydxprotocol',
      {
        USDC_DENOM: 'ibc/8E27BA2D5493AF5636760E354E46004562C46AB7EC0CC4C1CA14E9E20E2545B5',
        USDC_GAS_DENOM: 'uusdc',
        USDC_DECIMALS: 6,
        CHAINTOKEN_DENOM: 'adv4tnt',
        CHAINTOKEN_DECIMALS: 18,
      },
      undefined,
      'devnet ts client check',
    ),
  );
  const wallet = await LocalWallet.fromMnemonic(MNEMONIC, BECH32_PREFIX);
  const address = wallet.address;
  out.address = address;

  // -- funding through the faucet; the indexer then shows the subaccount --
  const faucet = await new FaucetClient(indexerUrl).fill(address, 0, FUND_USDC);
  out.faucet_status = faucet.status;

  const client = await CompositeClient.connect(network);
  const indexer = client.indexerClient;
  const node = client.validatorClient.get;
  out.indexer_subaccount = await poll(
    'the funded subaccount',
    async () => {
      try {
        return await indexer.account.getSubaccount(address, 0);
      } catch (e) {
        if (httpStatus(e) === 404) return null;
        throw e;
      }
    },
    timeoutMs,
  );

  // -- node reads (CometBFT RPC: status, block, abci_query) --
  const account = await node.getAccount(address);
  out.account_before = { number: Number(account.accountNumber), sequence: Number(account.sequence) };
  const height = await node.latestBlockHeight();
  out.node_height = height;
  const block = await node.latestBlock();
  out.node_block = { id: block.id, height: block.header.height, chainId: block.header.chainId };
  // after the block: the test compares its height with node_height's, read just before
  out.indexer_height = await indexer.utility.getHeight();
  out.indexer_time = await indexer.utility.getTime();
  const markets = await indexer.markets.getPerpetualMarkets('BTC-USD');
  out.markets = markets;
  const btc = markets.markets['BTC-USD'];
  const pairs = await node.getAllClobPairs();
  out.node_clob_pair_ids = pairs.clobPair.map((p) => p.id);
  const pair = await node.getClobPair(0);
  out.node_clob_pair = {
    id: pair.clobPair.id,
    stepBaseQuantums: pair.clobPair.stepBaseQuantums.toString(),
    subticksPerTick: pair.clobPair.subticksPerTick,
  };
  const prices = await node.getAllPrices();
  out.node_price_ids = prices.marketPrices.map((p) => p.id);
  const sub = await node.getSubaccount(address, 0);
  out.node_subaccount_owner = sub.subaccount.id.owner;
  out.node_subaccount_usdc = Buffer.from(sub.subaccount.assetPositions[0].quantums).toString('hex');
  // x/accountplus (permissioned keys), by abci_query like every module query
  const auths = await client.getAuthenticators(address);
  out.node_authenticators = auths.accountAuthenticators;

  // -- the websocket: NewBlock, NewBlockHeader and Tx events while the orders go in --
  // (WebsocketClient adds CometBFT's /websocket path itself)
  const events = await Tendermint37Client.create(new WebsocketClient(rpc.replace(/^http/, 'ws')));
  const seen = { blocks: [], headers: [], txs: [] };
  // CosmJS sends each subscribe request once the socket is open, without a way to await its
  // answer; a node handles one connection's requests in order (CometBFT
  // rpc/jsonrpc/server/ws_handler.go readRoutine). So: Tx, NewBlock, then NewBlockHeader, and the
  // first header event proves all three are in place before the orders go in (else the order's
  // block can be committed before the Tx subscription is).
  const txSub = events.subscribeTx().subscribe({
    next: (t) => seen.txs.push({ hash: hex(t.hash), height: t.height, code: t.result.code }),
    error: (e) => seen.txs.push({ error: String(e) }),
  });
  const blockSub = events.subscribeNewBlock().subscribe({
    next: (b) => seen.blocks.push({ height: b.header.height, chainId: b.header.chainId }),
    error: (e) => seen.blocks.push({ error: String(e) }),
  });
  // CometBFT fires NewBlockHeader right after NewBlock (state/execution.go fireEvents)
  const headerSub = events.subscribeNewBlockHeader().subscribe({
    next: (h) => seen.headers.push({ height: h.height, chainId: h.chainId }),
    error: (e) => seen.headers.push({ error: String(e) }),
  });
  await poll(
    'the first NewBlockHeader event',
    async () => (seen.headers.length ? true : null),
    timeoutMs,
  );

  // -- place: a short-term and a long-term limit buy at half the oracle price (they rest) --
  const subaccount = SubaccountInfo.forLocalWallet(wallet, 0);
  const price = Math.floor(Number(btc.oraclePrice) / 2);
  const ids = { short: 1000 + (height % 1000), long: 2000 + (height % 1000) };
  const gtb = height + 10;
  const placedShort = await client.placeShortTermOrder(
    subaccount, 'BTC-USD', OrderSide.BUY, price, 0.001, ids.short, gtb,
    TIME_IN_FORCE_UNSPECIFIED, false,
  );
  out.place_short = { code: placedShort.code, hash: hex(placedShort.hash) };
  // LIMIT + GTT is a long-term order: the client broadcasts it with broadcast_tx_sync and then
  // polls `tx` until its block is committed (tendermintClient.ts broadcastTransactionCommit).
  const placedLong = await client.placeOrder(
    subaccount, 'BTC-USD', OrderType.LIMIT, OrderSide.BUY, price - 1, 0.002, ids.long,
    OrderTimeInForce.GTT, 300, OrderExecution.DEFAULT, false, false,
  );
  out.place_long = { code: placedLong.code, hash: placedLong.hash, height: placedLong.height };
  await poll(
    "the long-term order's Tx event",
    async () => (seen.txs.some((t) => t.hash === placedLong.hash) ? true : null),
    timeoutMs,
  );
  blockSub.unsubscribe();
  headerSub.unsubscribe();
  txSub.unsubscribe();
  events.disconnect();
  out.ws_events = seen;

  // -- the indexer: both orders listed, then fetched by id --
  const listed = await poll(
    'both orders on the indexer',
    async () => {
      const orders = await indexer.account.getSubaccountOrders(address, 0);
      const byClient = Object.fromEntries(orders.map((o) => [o.clientId, o]));
      const s = byClient[String(ids.short)];
      const l = byClient[String(ids.long)];
      return s && l && l.status === 'OPEN' ? { short: s, long: l } : null;
    },
    timeoutMs,
  );
  out.before_cancel = {
    short: await indexerOrder(indexer, listed.short.id),
    long: await indexerOrder(indexer, listed.long.id),
  };
  out.indexer_orders_filtered = await indexer.account.getSubaccountOrders(
    address, 0, 'BTC-USD', TickerType.PERPETUAL, undefined, OrderStatus.BEST_EFFORT_OPENED,
  );
  out.orderbook = await indexer.markets.getPerpetualMarketOrderbook('BTC-USD');

  // -- cancel both --
  const cancelShort = await client.cancelOrder(
    subaccount, ids.short, OrderFlags.SHORT_TERM, 'BTC-USD', gtb, 0,
  );
  out.cancel_short = { code: cancelShort.code, hash: hex(cancelShort.hash) };
  const cancelLong = await client.cancelOrder(
    subaccount, ids.long, OrderFlags.LONG_TERM, 'BTC-USD', 0, 300,
  );
  out.cancel_long = { code: cancelLong.code, hash: cancelLong.hash, height: cancelLong.height };

  out.after_cancel = await poll(
    'the cancels on the indexer',
    async () => {
      const s = await indexerOrder(indexer, listed.short.id);
      const l = await indexerOrder(indexer, listed.long.id);
      return s === 404 && typeof l === 'object' && l.status === 'CANCELED' ? { short: s, long: l } : null;
    },
    timeoutMs,
  );
  out.orders_after = await indexer.account.getSubaccountOrders(address, 0);
  const after = await node.getAccount(address);
  out.account_after = { number: Number(after.accountNumber), sequence: Number(after.sequence) };
  out.indexer_subaccount_after = await indexer.account.getSubaccount(address, 0);
  out.indexer_asset_positions = await indexer.account.getSubaccountAssetPositions(address, 0);
  out.indexer_perpetual_positions = await indexer.account.getSubaccountPerpetualPositions(
    address, 0,
  );
  out.elapsed_ms = Date.now() - t0;
  return out;
}

main().then(
  (out) => {
    process.stdout.write(JSON.stringify(out));
    process.exit(0);
  },
  (err) => {
    process.stderr.write(`${err && err.stack ? err.stack : err}\n`);
    process.exit(1);
  },
);
