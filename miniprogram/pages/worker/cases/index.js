// The worker's own cases, newest first, a page at a time.
const api = require('../../../request.js')
const format = require('../../../format.js')

function shape (item) {
  return Object.assign({}, item, {
    amountText: format.yuan(item.amount_owed_fen),
    createdText: format.when(item.created_at)
  })
}

Component({
  data: { loading: false, error: '', cases: [], nextCursor: '' },
  methods: {
    onLoad () {
      return this.reload()
    },
    onShow () {
      if (this.loaded) return this.reload()
    },
    reload () {
      this.setData({ cases: [], nextCursor: '' })
      return this.fetch('')
    },
    more () {
      return this.fetch(this.data.nextCursor)
    },
    async fetch (cursor) {
      this.setData({ loading: true, error: '' })
      try {
        const path = '/api/v1/complaints' + (cursor ? '?cursor=' + encodeURIComponent(cursor) : '')
        const out = await api.request('GET', path, null, { role: 'complainant' })
        this.loaded = true
        this.setData({
          loading: false,
          cases: this.data.cases.concat(out.cases.map(shape)),
          nextCursor: out.next_cursor || ''
        })
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },
    open (e) {
      wx.navigateTo({ url: '/pages/worker/case/index?number=' + e.currentTarget.dataset.number })
    },
    scan () {
      wx.navigateTo({ url: '/pages/index/index' })
    }
  }
})
