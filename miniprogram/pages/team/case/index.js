// A team member's case: accept or return it, record progress (internal or worker-visible) with
// photos from the camera, look at the worker's evidence, and go on to resolve it.
const api = require('../../../request.js')
const config = require('../../../config.js')
const format = require('../../../format.js')

const BY_ROLE = { complainant: '（工人提供）', team_member: '（处置小组）', foreman: '（工长）', staff: '（信访局）' }

Component({
  data: {
    loading: false,
    busy: false,
    error: '',
    notice: '',
    item: null,
    events: [],
    evidence: [],
    clock: { text: '', late: false },
    amountText: '',
    working: false,
    returnReason: '',
    noteText: '',
    contacted: false,
    workerVisible: false,
    photos: []
  },
  methods: {
    onLoad (query) {
      this.number = query.number
      if (query.resolved) this.setData({ notice: '案件已办结，已通知工人确认。' })
      return this.reload()
    },
    onShow () {
      if (this.data.item) return this.reload()
    },
    path (action) {
      return `/api/v1/team/cases/${encodeURIComponent(this.number)}${action ? '/' + action : ''}`
    },
    async reload () {
      this.setData({ loading: true, error: '' })
      try {
        const item = await api.request('GET', this.path(''), null, { role: 'team_member' })
        this.setData({
          loading: false,
          item,
          events: item.events.map(format.eventLine).reverse(),
          evidence: item.evidence.map(e => Object.assign({}, e, {
            kindLabel: e.content_type === 'application/pdf' ? '📄 PDF' : '🖼 照片',
            byLabel: BY_ROLE[e.uploaded_by_role] || '',
            at: format.when(e.at)
          })),
          clock: format.caseClock(item),
          amountText: format.yuan(item.amount_owed_fen),
          working: item.status === 'accepted' || item.status === 'in_progress'
        })
      } catch (err) {
        this.setData({ loading: false, error: err.message })
      }
    },
    onField (e) {
      this.setData({ [e.currentTarget.dataset.field]: e.detail.value })
    },
    async act (action, body, done) {
      this.setData({ busy: true, error: '', notice: '' })
      try {
        const out = await api.request('POST', this.path(action), body, { role: 'team_member' })
        this.setData({ busy: false, notice: done })
        await this.reload()
        return out
      } catch (err) {
        this.setData({ busy: false, error: err.message })
        return null
      }
    },
    accept () {
      return this.act('accept', {}, '已接收。请尽快联系工人。')
    },
    start () {
      return this.act('start', {}, '已开始处置。')
    },
    giveBack () {
      const reason = this.data.returnReason.trim()
      if (!reason) {
        this.setData({ error: '请填写退回原因。' })
        return Promise.resolve(null)
      }
      return this.act('return', { reason }, '已退回工长。')
    },
    takePhoto () {
      return new Promise(resolve => {
        wx.chooseMedia({
          count: 9,
          mediaType: ['image'],
          sourceType: ['camera'],
          sizeType: ['compressed'],
          success: (res) => {
            this.setData({ photos: this.data.photos.concat(res.tempFiles.map(f => f.tempFilePath)) })
            resolve(res.tempFiles.length)
          },
          fail: () => resolve(0)
        })
      })
    },
    // Upload the photos not yet sent; the ids of those that arrived, the rest stay for a retry.
    async uploadPhotos () {
      const ids = []
      const left = []
      for (const photo of this.data.photos) {
        try {
          const out = await api.upload(this.path('evidence'), photo, { role: 'team_member' })
          ids.push(out.id)
        } catch (err) {
          left.push(photo)
          this.setData({ error: err.message })
        }
      }
      this.setData({ photos: left })
      return { ids, failed: left.length }
    },
    async saveNote () {
      const text = this.data.noteText.trim()
      if (!text) {
        this.setData({ error: '请填写进展情况。' })
        return null
      }
      this.setData({ busy: true, error: '' })
      const uploaded = await this.uploadPhotos()
      if (uploaded.failed) {
        this.setData({ busy: false })
        return null
      }
      const out = await this.act('notes', {
        text,
        evidence_ids: uploaded.ids,
        worker_visible: !!this.data.workerVisible,
        contacted_worker: !!this.data.contacted
      }, '进展已保存。')
      if (out) this.setData({ noteText: '', contacted: false, workerVisible: false })
      return out
    },
    openResolve () {
      wx.navigateTo({ url: '/pages/team/resolve/index?number=' + this.number })
    },
    viewEvidence (e) {
      const { id, type } = e.currentTarget.dataset
      wx.downloadFile({
        url: config.apiBaseUrl + this.path('evidence/' + id),
        header: { Authorization: 'Bearer ' + api.getToken() },
        success: (res) => {
          if (res.statusCode !== 200) {
            this.setData({ error: '材料暂时打不开，请稍后再试。' })
            return
          }
          if (type === 'application/pdf') wx.openDocument({ filePath: res.tempFilePath, fileType: 'pdf' })
          else wx.previewImage({ urls: [res.tempFilePath] })
        },
        fail: () => this.setData({ error: api.MESSAGES.network })
      })
    }
  }
})
