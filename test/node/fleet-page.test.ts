import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { copyFile, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { chromium, type BrowserContext } from 'playwright-core'
import { revisionFixture } from '../fixtures.js'
import { startPvCtrlEmulator } from '../sim/pvctrl-emulator.js'
import { addressOf, fixtureRelease, tempDir, testFloor } from './device-helpers.js'

const CHROMIUM = '/usr/bin/chromium'
/** Where the lead looks at the page after a run. */
const LEAD_SCREENSHOT = '/tmp/pvswarm-fleet-page.png'
const FAST_DELAYS = { pickupMs: 5, inProgressMs: 10, testingMs: 10, rebootDownMs: 10 }

const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is absent: the fleet page is not tested`

/** Debian's chromium, headless, with a new empty profile. */
async function launch(t: { after(fn: () => Promise<void>): void }): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'pvswarm-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  })
  t.after(async () => {
    await context.close()
    await rm(profile, { recursive: true, force: true })
  })
  return context
}

describe('fleet page', () => {
  it('shows a rollout spreading over three devices, then their trials', { skip }, async t => {
    const floor = await testFloor(t)
    const dir = await tempDir(t, 'fleet-page')
    const pvs = await Promise.all(
      ['seed', 'line-1', 'line-2'].map(name =>
        startPvCtrlEmulator({ dir: join(dir, name), delays: FAST_DELAYS }),
      ),
    )
    t.after(async () => void (await Promise.all(pvs.map(pv => pv.close()))))
    const extras = { trialPollIntervalMs: 20, floor: { floorPushIntervalMs: 100 } }
    // a capped seed makes the download last long enough to be seen in progress
    const seed = await floor.start(
      'seed',
      {
        name: 'seed',
        api: '127.0.0.1:0',
        pvctrl: pvs[0]!.socketPath,
        uploadRateBytesPerSecond: 3 * 1024 * 1024,
      },
      extras,
    )
    const one = await floor.start(
      'line-1',
      { name: 'line-1', pvctrl: pvs[1]!.socketPath, peer: [addressOf(seed)] },
      extras,
    )
    await floor.start(
      'line-2',
      { name: 'line-2', pvctrl: pvs[2]!.socketPath, peer: [addressOf(one)] },
      extras,
    )

    const context = await launch(t)
    const page = await context.newPage()
    await page.goto(`http://${seed.api!.address}/`)
    await page.waitForFunction("document.querySelectorAll('tr.device').length === 3")
    const names = (): Promise<Array<string | null | undefined>> =>
      page
        .locator('tr.device td.name')
        .evaluateAll(cells => cells.map(cell => cell.firstChild?.textContent))
    assert.deepEqual(await names(), ['line-1', 'line-2', 'seed (this device)'])
    assert.deepEqual(await page.locator('tr.device td.state').allInnerTexts(), [
      'no release',
      'no release',
      'no release',
    ])

    const release = await fixtureRelease('rev1', floor.key, 9, 'floor', 256 * 1024)
    await seed.device.seed(release, revisionFixture('rev1'))

    // a peer's row while its download runs: a partly filled bar
    await page.waitForFunction(
      `[...document.querySelectorAll('tr.device')].some(row => {
        const percent = Number.parseInt(row.querySelector('.pct')?.textContent ?? '', 10)
        return row.querySelector('.state')?.textContent === 'downloading' &&
          percent > 0 && percent < 100
      })`,
      undefined,
      { timeout: 30_000 },
    )
    const midway = join(dir, 'fleet-midway.png')
    await page.screenshot({ path: midway, fullPage: true })

    await page.waitForFunction(
      `[...document.querySelectorAll('tr.device td.trial')]
        .filter(cell => cell.textContent.startsWith('installed')).length === 3`,
      undefined,
      { timeout: 30_000 },
    )
    const rows = await page.locator('tr.device').evaluateAll(elements =>
      elements.map(row => ({
        name: row.querySelector('.name')?.firstChild?.textContent,
        installed: row.querySelector('.installed-release')?.textContent,
        percent: row.querySelector('.pct')?.textContent,
        state: row.querySelector('.state')?.textContent,
        trial: row.querySelector('.trial')?.textContent,
        width: row.querySelector('.fill')?.getAttribute('style'),
      })),
    )
    assert.deepEqual(rows, [
      {
        name: 'line-1',
        installed: '#9',
        percent: '100%',
        state: 'installed',
        trial: 'installed (DONE)',
        width: 'width: 100%;',
      },
      {
        name: 'line-2',
        installed: '#9',
        percent: '100%',
        state: 'installed',
        trial: 'installed (DONE)',
        width: 'width: 100%;',
      },
      {
        name: 'seed (this device)',
        installed: '#9',
        percent: '100%',
        state: 'installed',
        trial: 'installed (DONE)',
        width: 'width: 100%;',
      },
    ])
    assert.match(await page.locator('#summary').innerText(), /^3 devices · 3 installed newest/)

    const done = join(dir, 'fleet-installed.png')
    await page.screenshot({ path: done, fullPage: true })
    assert.ok(existsSync(midway) && existsSync(done))
    await copyFile(done, LEAD_SCREENSHOT)
  })
})
