import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeServiceBus, type FakeServiceBus } from './emulators';
import { ServiceBusQueueBrowser, ServiceBusQueueSender } from './service-bus';

/** The real @azure/service-bus SDK against the test AMQP endpoint (adapters/azure/emulators.ts): Service Bus itself cannot run here. */
describe('Service Bus queue browser (peek)', () => {
  let bus: FakeServiceBus;
  beforeAll(async () => {
    bus = await startFakeServiceBus();
  });
  afterAll(async () => {
    await bus?.stop();
  });

  it('shows every message not yet settled, oldest first, page after page, and takes nothing', async () => {
    const sender = new ServiceBusQueueSender<{ n: number }>({ connectionString: bus.connectionString, queue: 'browse-test' });
    const browser = new ServiceBusQueueBrowser<{ n: number }>({ connectionString: bus.connectionString, queue: 'browse-test', pageSize: 2 });
    try {
      const browsed = async () => {
        const out: number[] = [];
        for await (const body of browser.browse()) out.push(body.n);
        return out;
      };
      expect(await browsed()).toEqual([]);
      for (let n = 1; n <= 5; n++) await sender.send(`b${n}`, { n });
      await sender.send('other', { n: 99 }).catch(() => undefined);
      bus.settle('b2');
      expect(await browsed()).toEqual([1, 3, 4, 5, 99]);
      expect(await browsed()).toEqual([1, 3, 4, 5, 99]); // a browse takes nothing away
    } finally {
      await sender.close();
      await browser.close();
    }
  });
});
