// The foreman's leads: 特急, 紧急, 一般 (the server's order), each with its running clock.
const api = require('../../../request.js')
const format = require('../../../format.js')

const CHANNELS = { miniprogram: '小程序', web: '网页', phone: '电话', import: '转办' }

function shape (item) {
  return Object.assign({}, item, {
    amountText: format.yuan(item.amount_owed_fen),
    createdText: format.when(item.created_at),
    clock: format.caseClock(item),
    channelLabel: CHANNELS[item.channel] || ''
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
    onPullDownRefresh () {
      return this.reload().then(() => wx.stopPullDownRefresh())
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
        const query = cursor ? '?cursor=' + encodeURIComponent(cursor) : ''
        const out = await api.request('GET', '/api/v1/foreman/queue' + query, null, { role: 'foreman' })
        this.loaded = true
        this.setData({
          loading: false,
          cases: this.data.cases.concat(out.cases.map(shape)),
          nextCursor: out.next_cursor || ''
        })
      } catch (err) {
        if (err.code === 'binding_required') {
          wx.redirectTo({ url: '/pages/staff/bind/index' })
          return
        }
        this.setData({ loading: false, error: err.message })
      }
    },
    open (e) {
      const { number, suggested } = e.currentTarget.dataset
      wx.navigateTo({ url: `/pages/foreman/case/index?number=${number}&suggested=${suggested}` })
    },
    phoneReport () {
      wx.navigateTo({ url: '/pages/foreman/phone/index' })
    },
    followDispatched () {
      wx.navigateTo({ url: '/pages/foreman/dispatched/index' })
    }
  }
})
