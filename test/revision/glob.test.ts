import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { globMatcher } from '../../src/revision/glob.js'

describe('globMatcher', () => {
  it('lets * match within one segment only', () => {
    const match = globMatcher('bsp/*')
    assert.equal(match('bsp/kernel.img'), true)
    assert.equal(match('bsp/sub/kernel.img'), false)
  })

  it('lets dir/** match everything below dir/', () => {
    const match = globMatcher('_config/web/**')
    assert.equal(match('_config/web/etc/nginx/conf.d/site.conf'), true)
    assert.equal(match('_config/web/x'), true)
    assert.equal(match('_config/website/x'), false)
  })

  it('lets a lone ** match every key', () => {
    assert.equal(globMatcher('**')('a/b/c'), true)
    assert.equal(globMatcher('**')('#spec'), true)
  })

  it('matches an exact key literally, dots included', () => {
    const match = globMatcher('device.json')
    assert.equal(match('device.json'), true)
    assert.equal(match('deviceXjson'), false)
  })

  it('lets ? match one character but not /', () => {
    assert.equal(globMatcher('a?c')('abc'), true)
    assert.equal(globMatcher('a?c')('a/c'), false)
  })

  it('supports bracket expressions, negated ones too, never matching /', () => {
    assert.equal(globMatcher('v[0-9].img')('v7.img'), true)
    assert.equal(globMatcher('v[!0-9].img')('vx.img'), true)
    assert.equal(globMatcher('v[!0-9].img')('v/.img'), false)
  })

  it('treats an unclosed [ literally', () => {
    assert.equal(globMatcher('a[b')('a[b'), true)
  })

  it('treats ** inside a pattern as two single-segment stars', () => {
    assert.equal(globMatcher('**/src.json')('app/src.json'), true)
    assert.equal(globMatcher('**/src.json')('a/b/src.json'), false)
  })
})
